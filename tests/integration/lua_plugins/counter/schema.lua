return {
  name = "counter",
  fields = {
    { config = { type = "record", fields = {
        { dict = { type = "string", default = "counts" } },
        { key = { type = "string", default = "requests" } },
    } } },
  },
}

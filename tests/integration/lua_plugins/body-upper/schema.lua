return {
  name = "body-upper",
  fields = {
    { config = { type = "record", fields = { { prefix = { type = "string", default = "" } } } } },
  },
}

return {
  name = "ticker",
  fields = {
    { config = { type = "record", fields = { { every = { type = "number", default = 0.05 } } } } },
  },
}

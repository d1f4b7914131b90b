return {
  name = "sleeper",
  fields = {
    { config = { type = "record", fields = { { times = { type = "integer", default = 2, between = { 1, 10 } } } } } },
  },
}

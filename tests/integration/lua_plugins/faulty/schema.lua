return {
  name = "faulty",
  fields = { { config = { type = "record", fields = {} } } },
}

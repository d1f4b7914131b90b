return {
  name = "cosocket-probe",
  fields = {
    { config = { type = "record", fields = {
      { host = { type = "string", default = "127.0.0.1" } },
      { port = { type = "integer" } },
    } } },
  },
}

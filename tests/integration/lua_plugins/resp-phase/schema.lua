return { name = "resp-phase", fields = { { config = { type = "record", fields = {} } } } }

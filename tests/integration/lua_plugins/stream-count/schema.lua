return { name = "stream-count", fields = { { config = { type = "record", fields = {} } } } }

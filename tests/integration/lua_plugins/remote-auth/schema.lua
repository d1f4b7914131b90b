local typedefs = require "kong.db.schema.typedefs"

return {
  name = "remote-auth",
  fields = {
    { consumer = typedefs.no_consumer },
    { config = {
        type = "record",
        fields = {
          { url = typedefs.url { required = true } },
          { header = typedefs.header_name { default = "x-token" } },
          { ttl = { type = "number", default = 60 } },
          { timeout = typedefs.timeout { default = 5000 } },
          { ssl_verify = { type = "boolean", default = true } },
        },
    } },
  },
}

local typedefs = require "kong.db.schema.typedefs"

return {
  name = "gatekeeper",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { status = { type = "integer", default = 403, between = { 400, 499 } } },
          { message = { type = "string", default = "blocked by lua" } },
        },
    } },
  },
}

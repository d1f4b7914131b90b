local typedefs = require "kong.db.schema.typedefs"

return {
  name = "header-tweaks",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { request_header = typedefs.header_name { default = "X-Lua-Access" } },
          { response_header = typedefs.header_name { default = "X-Lua-Header-Filter" } },
          { value = { type = "string", required = true } },
        },
    } },
  },
}

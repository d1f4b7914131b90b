local typedefs = require "kong.db.schema.typedefs"

local function even(n)
  if n % 2 == 0 then return true end
  return nil, "must be an even number, got " .. tostring(n)
end

return {
  name = "rich-schema",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { mode = { type = "string", default = "soft", one_of = { "soft", "hard" } } },
          { limit = { type = "integer", default = 10, between = { 1, 100 } } },
          { pairs = { type = "integer", custom_validator = even } },
          { names = { type = "array", default = { "a" }, elements = { type = "string", len_min = 2 } } },
          { tags = { type = "set", elements = { type = "string", match = "^[a-z]+$" } } },
          { labels = { type = "map", keys = { type = "string" }, values = { type = "string" } } },
          { target = { type = "record", fields = {
              { host = typedefs.host { required = true } },
              { port = typedefs.port { default = 80 } },
          } } },
          { header = typedefs.header_name },
          { key = { type = "string" } },
          { secret = { type = "string" } },
          { strict = { type = "boolean", default = false } },
          { reason = { type = "string" } },
        },
        entity_checks = {
          { only_one_of = { "key", "secret" } },
          { conditional = { if_field = "mode", if_match = { eq = "hard" },
                            then_field = "reason", then_match = { required = true } } },
        },
    } },
  },
  entity_checks = {
    { at_least_one_of = { "config.key", "config.secret" } },
  },
}

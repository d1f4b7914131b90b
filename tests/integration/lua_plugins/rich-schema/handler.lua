-- Echoes its (defaulted) config to the upstream as JSON, to prove what the
-- schema filled in.
local cjson = require "cjson.safe"
local helper = require "kong.plugins.rich-schema.helper"

local Rich = { PRIORITY = 500, VERSION = "2.0.0" }

function Rich:access(conf)
  kong.service.request.set_header("X-Rich-Config", helper.encode_sorted(conf))
  kong.service.request.set_header("X-Rich-Json", cjson.encode({ mode = conf.mode }))
end

return Rich

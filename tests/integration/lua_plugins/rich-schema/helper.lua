-- A module of the plugin, found through kong.plugins.rich-schema.helper.
local cjson = require "cjson"

local M = {}

-- JSON of the config's top-level keys in sorted order (stable for tests).
function M.encode_sorted(conf)
  local keys = {}
  for k in pairs(conf) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(conf[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

return M

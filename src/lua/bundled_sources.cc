// pre-function and post-function: Kong's serverless plugins. Each phase of
// the config holds a list of Lua chunks; each chunk is compiled once per
// worker and config, and when its first run returns a function, that
// function is what runs from then on (so it may keep upvalues). The chunks
// run with the PDK's globals (Kong's untrusted_lua = "on"; no sandbox yet).
#include "lua/bundled_sources.h"

namespace wg::lua {
namespace {

// Both plugins' schema.lua; the chunk gets the plugin's name.
const char* const kFunctionSchema = R"lua(
local plugin_name = ...
local typedefs = require "kong.db.schema.typedefs"

local function compiles(code)
  local _, err = loadstring(code)
  if err then return false, "error parsing " .. plugin_name .. ": " .. err end
  return true
end

local phase_code = {
  type = "array", required = true, default = {},
  elements = { type = "string", required = false, custom_validator = compiles },
}

return {
  name = plugin_name,
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { certificate = phase_code },
          { rewrite = phase_code },
          { access = phase_code },
          { header_filter = phase_code },
          { body_filter = phase_code },
          { log = phase_code },
        },
    } },
  },
  entity_checks = {
    { at_least_one_of = { "config.certificate", "config.rewrite", "config.access",
                          "config.header_filter", "config.body_filter", "config.log" } },
  },
}
)lua";

// Both plugins' handler.lua, given its PRIORITY after the name.
const char* const kFunctionHandler = R"lua(
local plugin_name, priority = ...

-- One runner per chunk: the first call runs the chunk; a function it
-- returns replaces it for every later call.
local function runner(code, label)
  local chunk = assert(loadstring(code, "=" .. label))
  local fn, first = chunk, true
  return function()
    if first then
      first = false
      local result = fn()
      if type(result) == "function" then
        fn = result
        fn()
      end
      return
    end
    fn()
  end
end

local function compile(list, phase)
  if not list or #list == 0 then return nil end
  local runners = {}
  for i, code in ipairs(list) do runners[i] = runner(code, plugin_name .. " " .. phase .. "[" .. i .. "]") end
  return function() for i = 1, #runners do runners[i]() end end
end

local compiled = setmetatable({}, { __mode = "k" })
local function phase_of(conf, phase)
  local per = compiled[conf]
  if not per then per = {} compiled[conf] = per end
  local f = per[phase]
  if f == nil then f = compile(conf[phase], phase) or false per[phase] = f end
  return f
end

local Handler = { PRIORITY = priority, VERSION = "3.4.2" }
for _, phase in ipairs({ "rewrite", "access", "header_filter", "body_filter", "log" }) do
  Handler[phase] = function(_, conf)
    local f = phase_of(conf, phase)
    if f then f() end
  end
end
return Handler
)lua";

}  // namespace

// PRIORITY as Kong's: pre-function first of all (1000000), post-function
// late (-1000). The priority goes to the handler chunk as its second argument.
const BundledSource kBundledSources[] = {
    {"pre-function", kFunctionSchema, kFunctionHandler, 1000000},
    {"post-function", kFunctionSchema, kFunctionHandler, -1000},
    {nullptr, nullptr, nullptr, 0},
};

}  // namespace wg::lua

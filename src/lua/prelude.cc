// The PDK's Lua side: `kong`, `ngx`, Kong's module paths and typedefs, over
// the C primitives of pdk.cc (the `wg` table the chunk gets). Returns the
// hooks the C side calls (run a phase method, end a request).
#include "lua/pdk.h"

namespace wg::lua {

const char* const kPrelude = R"lua(
local wg = ...
local null = wg.null
local fact, header, headers, set_header = wg.fact, wg.header, wg.headers, wg.set_header
local type, tostring, select, concat = type, tostring, select, table.concat
local hooks = {}

------------------------------------------------------------------ modules
-- kong.plugins.NAME.MODULE is NAME/MODULE.lua in the plugins directory.
local plugins_dir = wg.plugins_dir
table.insert(package.loaders, 2, function(name)
  local plugin, rest = name:match("^kong%.plugins%.([^.]+)%.(.+)$")
  if not plugin then return nil end
  if plugins_dir == "" then return "\n\tno Lua plugins directory (--lua-plugins-dir)" end
  local path = plugins_dir .. "/" .. plugin .. "/" .. rest:gsub("%.", "/") .. ".lua"
  local f = io.open(path, "rb")
  if not f then return "\n\tno file '" .. path .. "'" end
  f:close()
  return assert(loadfile(path))
end)

local ok_cjson, cjson = pcall(require, "cjson")
if not ok_cjson then cjson = nil end

------------------------------------------------------------------ per request
local requests = {}
local function request_ctx()
  local serial = fact("serial")
  local r = requests[serial]
  if not r then
    r = { shared = {}, plugin = {}, ngx = {} }
    requests[serial] = r
    wg.ctx_made()
  end
  return r
end
function hooks.end_request(serial)
  if requests[serial] == nil then return false end
  requests[serial] = nil
  return true
end

------------------------------------------------------------------ logging
local levels = { STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8 }
local function joined(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    parts[i] = v == null and "null" or tostring(v)
  end
  return concat(parts)
end

------------------------------------------------------------------ ngx
ngx = {
  null = null, arg = {}, OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
  HTTP_OK = 200, HTTP_CREATED = 201, HTTP_NO_CONTENT = 204, HTTP_MOVED_PERMANENTLY = 301,
  HTTP_MOVED_TEMPORARILY = 302, HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_FORBIDDEN = 403,
  HTTP_NOT_FOUND = 404, HTTP_NOT_ALLOWED = 405, HTTP_TOO_MANY_REQUESTS = 429,
  HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_BAD_GATEWAY = 502, HTTP_SERVICE_UNAVAILABLE = 503,
  HTTP_GATEWAY_TIMEOUT = 504,
}
for k, v in pairs(levels) do ngx[k] = v end
function ngx.log(level, ...) wg.log(level, joined(...)) end
ngx.now = wg.now
function ngx.time() return math.floor(wg.now()) end
function ngx.update_time() end
-- ngx.shared.NAME: the dictionaries --lua-shared-dict declares (every
-- worker sees the same ones).
local dict_methods = {
  get = function(self, key) return wg.dict_get(self.id, key) end,
  set = function(self, key, value, exptime) local ok, err = wg.dict_set(self.id, key, value, exptime, 0) return ok, err, false end,
  safe_set = function(self, key, value, exptime) return wg.dict_set(self.id, key, value, exptime, 0) end,
  add = function(self, key, value, exptime) local ok, err = wg.dict_set(self.id, key, value, exptime, 1) return ok, err, false end,
  safe_add = function(self, key, value, exptime) return wg.dict_set(self.id, key, value, exptime, 1) end,
  replace = function(self, key, value, exptime) local ok, err = wg.dict_set(self.id, key, value, exptime, 2) return ok, err, false end,
  delete = function(self, key) wg.dict_set(self.id, key, nil, 0, 0) end,
  incr = function(self, key, value, init) return wg.dict_incr(self.id, key, value, init) end,
  flush_all = function(self) wg.dict_flush(self.id) end,
}
local dict_mt = { __index = dict_methods }
ngx.shared = setmetatable({}, { __index = function(t, name)
  local id = wg.dict_id(name)
  if not id then return nil end
  local d = setmetatable({ id = id, name = name }, dict_mt)
  rawset(t, name, d)
  return d
end })
ngx.encode_args = wg.encode_args
ngx.decode_args = function(s) return wg.decode_args(s) end
ngx.worker = { id = function() return 0 end, count = function() return 1 end }
ngx.config = { subsystem = "http", ngx_lua_version = 10025 }
setmetatable(ngx, { __index = function(_, k)
  if k == "ctx" then return request_ctx().ngx end
end })

local function target() return fact("target") end
local function path_of(t) local q = t:find("?", 1, true) return q and t:sub(1, q - 1) or t end
local function query_of(t) local q = t:find("?", 1, true) return q and t:sub(q + 1) or "" end
local function host_of(authority)
  local h = authority:match("^%[.-%]") or authority:match("^[^:]*")
  return h:lower()
end

-- Header tables read with any case and '_' for '-', as ngx's.
local header_mt = { __index = function(t, k)
  if type(k) ~= "string" then return nil end
  local n = k:lower():gsub("_", "-")
  if n ~= k then return rawget(t, n) end
end }
local function header_table(which)
  return setmetatable(headers(which), header_mt)
end

local var_readers = {
  request_uri = target,
  uri = function() return path_of(target()) end,
  args = function() local q = query_of(target()) return q ~= "" and q or nil end,
  is_args = function() return target():find("?", 1, true) and "?" or "" end,
  query_string = function() local q = query_of(target()) return q ~= "" and q or nil end,
  host = function() return host_of(fact("authority")) end,
  http_host = function() return fact("authority") end,
  remote_addr = function() return fact("client_ip") end,
  binary_remote_addr = function() return fact("client_ip") end,
  remote_port = function() return tostring(fact("client_port")) end,
  server_port = function() return tostring(fact("server_port")) end,
  scheme = function() return fact("scheme") end,
  request_method = function() return fact("method") end,
  server_protocol = function() return fact("http_version") == 1 and "HTTP/1.0" or "HTTP/1.1" end,
  upstream_uri = function() return fact("upstream_uri") end,
  request_id = function() return fact("request_id") end,
  kong_request_id = function() return fact("request_id") end,
  status = function() local s = fact("status") return s and tostring(s) end,
}
ngx.var = setmetatable({}, {
  __index = function(_, k)
    local r = var_readers[k]
    if r then return r() end
    local h = k:match("^http_(.+)$")
    if h then return header(0, (h:gsub("_", "-"))) end
    h = k:match("^sent_http_(.+)$")
    if h then return header(1, (h:gsub("_", "-"))) end
    local a = k:match("^arg_(.+)$")
    if a then local v = wg.decode_args(query_of(target()))[a] return type(v) == "table" and v[1] or v end
    return nil
  end,
  __newindex = function(_, k, v)
    if k == "upstream_uri" then
      wg.set_upstream("path", path_of(v)) wg.set_upstream("query", query_of(v))
    else
      error("ngx.var." .. tostring(k) .. " cannot be set in this gateway", 2)
    end
  end,
})
ngx.req = {
  get_method = function() return fact("method") end,
  get_headers = function() return header_table(0) end,
  get_uri_args = function() return wg.decode_args(query_of(target())) end,
  set_header = function(n, v) if v == nil then set_header(0, 2, n) else set_header(0, 0, n, tostring(v)) end end,
  clear_header = function(n) set_header(0, 2, n) end,
}
ngx.header = setmetatable({}, {
  __index = function(_, k) return header(1, (k:gsub("_", "-"))) end,
  __newindex = function(_, k, v)
    k = k:gsub("_", "-")
    if v == nil then set_header(1, 2, k) else set_header(1, 0, k, tostring(v)) end
  end,
})

------------------------------------------------------------------ kong
kong = { version = "3.4.2", version_num = 3004002, configuration = {}, null = null }
kong.ctx = setmetatable({}, { __index = function(_, k)
  if k == "shared" then return request_ctx().shared end
  if k == "plugin" then
    local per = request_ctx().plugin
    local id = wg.instance()
    local t = per[id]
    if not t then t = {} per[id] = t end
    return t
  end
end })

local log = {}
for name, level in pairs({ alert = 2, crit = 3, err = 4, warn = 5, notice = 6, info = 7, debug = 8 }) do
  log[name] = function(...) wg.log(level, joined(...)) end
end
log.inspect = setmetatable({}, { __call = function() end })
kong.log = setmetatable(log, { __call = function(_, ...) wg.log(6, joined(...)) end })

local request = {}
request.get_scheme = function() return fact("scheme") end
request.get_host = function() return host_of(fact("authority")) end
request.get_port = function() return fact("server_port") end
request.get_forwarded_scheme = request.get_scheme
request.get_forwarded_host = request.get_host
request.get_forwarded_port = request.get_port
request.get_http_version = function() return fact("http_version") end
request.get_method = function() return fact("method") end
request.get_path = function() return path_of(target()) end
request.get_raw_path = request.get_path
request.get_path_with_query = target
request.get_raw_query = function() return query_of(target()) end
request.get_query_arg = function(name)
  local v = wg.decode_args(query_of(target()))[name]
  if type(v) == "table" then return v[1] end
  return v
end
request.get_query = function() return wg.decode_args(query_of(target())) end
request.get_header = wg.request_header
request.get_headers = function() return header_table(0) end
request.get_raw_body = function() return nil, "the request body is not available to Lua plugins yet" end
request.get_body = function() return nil, "the request body is not available to Lua plugins yet" end
kong.request = request

local response = {}
response.get_status = function() return fact("status") end
response.get_header = wg.response_header
response.get_headers = function() return header_table(1) end
response.get_source = function() return fact("upstream_status") and "service" or "exit" end
response.set_status = wg.set_status
response.set_header = wg.response_set_header
response.add_header = function(n, v) set_header(1, 1, n, tostring(v)) end
response.clear_header = function(n) set_header(1, 2, n) end
response.set_headers = function(t) for k, v in pairs(t) do set_header(1, 0, k, tostring(v)) end end
response.exit = function(status, body, hdrs)
  if type(body) == "table" then
    if not cjson then error("cjson is not installed (Debian lua-cjson)", 2) end
    body = cjson.encode(body)
    hdrs = hdrs or {}
    local has_type = false
    for k in pairs(hdrs) do if k:lower() == "content-type" then has_type = true end end
    if not has_type then hdrs["Content-Type"] = "application/json; charset=utf-8" end
  end
  return wg.exit(status, body, hdrs)
end
response.error = function(status, message, hdrs) return wg.error(status, message, hdrs) end
-- body_filter: Kong's buffering (nil until the last piece, each piece held
-- back meanwhile); the response phase: the whole body.
response.get_raw_body = function()
  local phase = wg.phase()
  if phase == "response" then return wg.body() end
  if phase ~= "body_filter" then error("function cannot be called in " .. phase .. " phase", 2) end
  local arg = ngx.arg
  local ctx = request_ctx().ngx
  local buffered = ctx.KONG_BODY_BUFFER
  local chunk, eof = arg[1], arg[2]
  if eof and not buffered then return chunk end
  if type(chunk) == "string" and chunk ~= "" then
    buffered = buffered or {}
    buffered[#buffered + 1] = chunk
    ctx.KONG_BODY_BUFFER = buffered
  end
  if eof then
    local whole = buffered and concat(buffered) or ""
    ctx.KONG_BODY_BUFFER = nil
    arg[1] = whole
    return whole
  end
  arg[1] = nil
  return nil
end
response.set_raw_body = function(body)
  if type(body) ~= "string" then error("body must be a string", 2) end
  local phase = wg.phase()
  if phase == "response" then return wg.set_body(body) end
  if phase ~= "body_filter" then error("function cannot be called in " .. phase .. " phase", 2) end
  ngx.arg[1], ngx.arg[2] = body, true
  if requests[fact("serial")] then request_ctx().ngx.KONG_BODY_BUFFER = nil end
end
kong.response = response

kong.service = {
  set_upstream = function() error("kong.service.set_upstream is not available in this gateway yet", 2) end,
  set_target = function() error("kong.service.set_target is not available in this gateway yet", 2) end,
}
kong.service.request = {
  set_header = wg.request_set_header,
  add_header = function(n, v) set_header(0, 1, n, tostring(v)) end,
  clear_header = function(n) set_header(0, 2, n) end,
  set_headers = function(t) for k, v in pairs(t) do set_header(0, 0, k, tostring(v)) end end,
  set_path = function(p) wg.set_upstream("path", p) end,
  set_raw_query = function(q) wg.set_upstream("query", q) end,
  set_query = function(t) wg.set_upstream("query", wg.encode_args(t)) end,
  set_method = function(m) wg.set_upstream("method", m) end,
  set_scheme = function() error("kong.service.request.set_scheme is not available in this gateway yet", 2) end,
  set_raw_body = function() error("kong.service.request.set_raw_body is not available in this gateway yet", 2) end,
  set_body = function() error("kong.service.request.set_body is not available in this gateway yet", 2) end,
  enable_buffering = function() end,
}
local function decoded_body(body, content_type)
  if not body then return nil, "the body is only available in the response phase" end
  content_type = (content_type or ""):lower()
  if content_type:find("application/json", 1, true) then
    if not cjson then return nil, "cjson is not installed" end
    local ok, v = pcall(cjson.decode, body)
    if not ok then return nil, "invalid json body" end
    return v, nil, "application/json"
  end
  if content_type:find("application/x-www-form-urlencoded", 1, true) then
    return wg.decode_args(body), nil, "application/x-www-form-urlencoded"
  end
  return nil, "unsupported content type '" .. content_type .. "'"
end
kong.service.response = {
  get_raw_body = function() return wg.body() end,
  get_body = function() return decoded_body(wg.body(), header(1, "content-type")) end,
  get_status = function() return fact("upstream_status") end,
  get_header = function(name) return header(1, name) end,
  get_headers = function() return header_table(1) end,
}

kong.client = {
  get_ip = function() return fact("client_ip") end,
  get_forwarded_ip = function() return fact("client_ip") end,
  get_port = function() return fact("client_port") end,
  get_forwarded_port = function() return fact("client_port") end,
  get_protocol = function() return fact("scheme") end,
  -- The consumer and credential kong.client.authenticate was given, else
  -- those a bundled plugin identified (the consumer entity of the config).
  get_consumer = function()
    local r = requests[fact("serial")]
    if r and r.consumer ~= nil then return r.consumer or nil end
    local id = fact("consumer_id")
    if not id then return nil end
    return wg.load_consumer(id) or { id = id }
  end,
  get_credential = function()
    local r = requests[fact("serial")]
    if r and r.credential ~= nil then return r.credential or nil end
    local id = fact("credential_id")
    return id and { id = id, consumer = { id = fact("consumer_id") } } or nil
  end,
  authenticate = function(consumer, credential)
    if consumer == nil and credential == nil then error("either credential or consumer must be provided", 2) end
    if consumer ~= nil and type(consumer) ~= "table" then error("consumer must be a table", 2) end
    if credential ~= nil and type(credential) ~= "table" then error("credential must be a table", 2) end
    local r = request_ctx()
    r.consumer, r.credential = consumer or false, credential or false
    wg.authenticate(consumer and consumer.id, credential and credential.id)
  end,
  load_consumer = function(consumer_id, search_by_username)
    if type(consumer_id) ~= "string" then error("consumer_id must be a string", 2) end
    return wg.load_consumer(consumer_id, search_by_username)
  end,
}
kong.node = {
  get_id = wg.node_id,
  get_hostname = function()
    local f = io.open("/proc/sys/kernel/hostname") if not f then return "localhost" end
    local h = f:read("*l") f:close() return h
  end,
  get_memory_stats = function() return { lua_shared_dicts = {}, workers_lua_vms = { { pid = 0, http_allocated_gc = wg.memory_used() } } } end,
}
kong.router = { get_route = wg.route, get_service = wg.service }
kong.table = {
  new = function() return {} end,
  clear = function(t) for k in pairs(t) do t[k] = nil end end,
}
kong.vault = setmetatable({}, { __index = function() error("kong.vault is not available in this gateway", 2) end })

------------------------------------------------------------------ typedefs
-- Kong's reusable field types (kong/db/schema/typedefs.lua), callable with
-- overrides as Kong's are: typedefs.header_name { required = true }.
local function define(t)
  return setmetatable(t, { __call = function(self, overrides)
    local copy = {}
    for k, v in pairs(self) do copy[k] = v end
    for k, v in pairs(overrides or {}) do copy[k] = v end
    return define(copy)
  end })
end
local http_protocols = { "http", "https", "grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss" }
local function header_name_ok(name)
  if name:find("^[%w_%-]+$") then return true end
  return nil, "bad header name '" .. name .. "', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
end
local typedefs = {
  no_consumer = define { type = "foreign", reference = "consumers", eq = null, wasmgate_no = "consumer" },
  no_route = define { type = "foreign", reference = "routes", eq = null, wasmgate_no = "route" },
  no_service = define { type = "foreign", reference = "services", eq = null, wasmgate_no = "service" },
  protocols = define { type = "set", required = true, default = { "grpc", "grpcs", "http", "https" },
                       elements = { type = "string", one_of = http_protocols } },
  protocols_http = define { type = "set", required = true, default = { "grpc", "grpcs", "http", "https" },
                            elements = { type = "string", one_of = { "http", "https", "grpc", "grpcs" } } },
  http_method = define { type = "string", match = "^%u+$" },
  port = define { type = "integer", between = { 0, 65535 } },
  timeout = define { type = "integer", between = { 0, 2147483646 } },
  host = define { type = "string" },
  path = define { type = "string", starts_with = "/" },
  url = define { type = "string" },
  ip = define { type = "string" },
  cidr = define { type = "string" },
  ip_or_cidr = define { type = "string" },
  uuid = define { type = "string", uuid = true },
  name = define { type = "string" },
  utf8_name = define { type = "string" },
  tags = define { type = "set", elements = { type = "string" } },
  header_name = define { type = "string", custom_validator = header_name_ok },
  lua_code = define { type = "map", keys = { type = "string", len_min = 1 }, values = { type = "string", len_min = 1 } },
  semantic_version = define { type = "string", match = "^%d+%.%d+%.?%d*$" },
}
package.preload["kong.db.schema.typedefs"] = function() return typedefs end
package.preload["kong.db.schema"] = function() return { define = define } end
package.preload["kong.meta"] = function() return { version = kong.version, _VERSION = kong.version } end

------------------------------------------------------------------ calls
-- One phase call of a plugin: method(module, conf). In body_filter the
-- piece is ngx.arg[1] (ngx.arg[2]: the body's end) and what is left there
-- after the call is sent on; ngx.arg[2] set before the end ends the body.
-- phase: the pipeline's number (0 rewrite ... 5 log).
local phase_methods = { [0] = "rewrite", "access", "response", "header_filter", "body_filter", "log" }
function hooks.run(module, phase, conf, body, eof)
  if body then
    local arg = ngx.arg
    arg[1], arg[2] = body, eof
  end
  module[phase_methods[phase]](module, conf)
  if body then
    local arg = ngx.arg
    local out, ended = arg[1], arg[2]
    arg[1], arg[2] = nil, nil
    return out, ended
  end
end

return hooks
)lua";

}  // namespace wg::lua

// `resty.http`: the commonly used interface of lua-resty-http (new,
// connect, request, request_uri, read_body, body_reader, set_timeout(s),
// set_keepalive, close, get_reused_times, parse_uri), written here in Lua on
// ngx.socket.tcp, so a call yields to the worker's loop like any cosocket.
// HTTP/1.1 only; https through the cosockets' sslhandshake (verified unless
// ssl_verify = false; its connections are not kept alive).
#include "lua/resty_http.h"

namespace wg::lua {

const char* const kRestyHttp = R"lua(
local ngx = ngx
local type, tostring, tonumber, pairs, ipairs, setmetatable = type, tostring, tonumber, pairs, ipairs, setmetatable
local concat, lower, upper = table.concat, string.lower, string.upper

local _M = { _VERSION = "0.17.1" }
local mt = { __index = _M }
local USER_AGENT = "lua-resty-http/" .. _M._VERSION .. " (Lua) ngx_lua/" .. ngx.config.ngx_lua_version

-- Response headers read with any case ('_' for '-' too), as lua-resty-http's.
local headers_mt = { __index = function(t, k)
  if type(k) ~= "string" then return nil end
  local n = lower(k):gsub("_", "-")
  if n ~= k then return rawget(t, n) end
end }

function _M.new()
  local sock, err = ngx.socket.tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock, keepalive = true }, mt)
end

function _M:set_timeout(ms) self.sock:settimeout(ms) end
function _M:set_timeouts(c, s, r) self.sock:settimeouts(c, s, r) end

function _M:parse_uri(uri, query_in_path)
  if query_in_path == nil then query_in_path = true end
  local scheme, rest = uri:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "bad uri: " .. tostring(uri) end
  scheme = lower(scheme)
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  local userinfo = authority:match("^(.*)@")
  if userinfo then authority = authority:sub(#userinfo + 2) end
  local host, port = authority:match("^%[(.-)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  if not host or host == "" then return nil, "bad uri: " .. uri end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  path = path:gsub("#.*$", "")
  local query = ""
  local q = path:find("?", 1, true)
  if q then query, path = path:sub(q + 1), path:sub(1, q - 1) end
  if path == "" then path = "/" end
  if query_in_path and query ~= "" then path, query = path .. "?" .. query, "" end
  return { scheme, host, port, path, query }
end

-- connect(options) or the older connect(host, port[, options]).
function _M:connect(options, port, legacy)
  local scheme, host, pool
  if type(options) == "table" then
    scheme, host, port, pool = options.scheme or "http", options.host, options.port, options.pool
  else
    host = options
    scheme = "http"
    pool = type(legacy) == "table" and legacy.pool or nil
  end
  if type(host) ~= "string" then return nil, "no host" end
  if host:sub(1, 5) ~= "unix:" then port = tonumber(port) or (scheme == "https" and 443 or 80) end
  self.host, self.port, self.scheme = host, port, scheme
  local ok, err = self.sock:connect(host, port, pool and { pool = pool } or nil)
  if not ok then return nil, err end
  if scheme == "https" then
    -- lua-resty-http verifies unless told not to
    ok, err = self.sock:sslhandshake(nil, options.ssl_server_name or host, options.ssl_verify ~= false)
    if not ok then self.sock:close() return nil, err end
  end
  return true
end

local function host_header(self)
  local default = (self.scheme == "https" and 443) or 80
  if self.host:sub(1, 5) == "unix:" then return "localhost" end
  if self.port and self.port ~= default then return self.host .. ":" .. self.port end
  return self.host
end

local function encode_query(query)
  if type(query) == "table" then return ngx.encode_args(query) end
  return query or ""
end

local function send_request(self, params)
  local method = upper(params.method or "GET")
  local path = params.path or "/"
  local query = encode_query(params.query)
  if query ~= "" then path = path .. (path:find("?", 1, true) and "&" or "?") .. query end
  local body = params.body
  if type(body) == "table" then body = concat(body) end
  local lines = { method, " ", path, " HTTP/", params.version == 1.0 and "1.0" or "1.1", "\r\n" }
  local has = {}
  for name, value in pairs(params.headers or {}) do
    has[lower(name)] = true
    if type(value) == "table" then
      for _, v in ipairs(value) do lines[#lines + 1] = name .. ": " .. tostring(v) .. "\r\n" end
    else
      lines[#lines + 1] = name .. ": " .. tostring(value) .. "\r\n"
    end
  end
  if not has["host"] then lines[#lines + 1] = "Host: " .. host_header(self) .. "\r\n" end
  if not has["user-agent"] then lines[#lines + 1] = "User-Agent: " .. USER_AGENT .. "\r\n" end
  if type(body) == "string" and not has["content-length"] then
    lines[#lines + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  if self.keepalive == false and not has["connection"] then lines[#lines + 1] = "Connection: close\r\n" end
  lines[#lines + 1] = "\r\n"
  if type(body) == "string" then lines[#lines + 1] = body end
  return self.sock:send(concat(lines))
end

local function read_headers(sock)
  local headers = setmetatable({}, headers_mt)
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    if line == "" then return headers end
    local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
    if name then
      name = lower(name)
      local old = rawget(headers, name)
      if old == nil then
        headers[name] = value
      elseif type(old) == "table" then
        old[#old + 1] = value
      else
        headers[name] = { old, value }
      end
    end
  end
end

-- A function returning the body's next piece, then nil (lua-resty-http's
-- body_reader; the size argument is ignored: whole pieces come back).
local function body_reader(self, res)
  local sock = self.sock
  local headers = res.headers
  local te = headers["transfer-encoding"]
  if type(te) == "table" then te = te[#te] end
  if te and lower(te):find("chunked", 1, true) then
    local done = false
    return function()
      if done then return nil end
      local line, err = sock:receive("*l")
      if not line then return nil, err end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then return nil, "bad chunk size: " .. line end
      if size == 0 then
        repeat
          line, err = sock:receive("*l")
          if not line then return nil, err end
        until line == ""
        done = true
        return nil
      end
      local data
      data, err = sock:receive(size)
      if not data then return nil, err end
      sock:receive(2)
      return data
    end
  end
  local length = tonumber(headers["content-length"])
  if length then
    local left = length
    return function()
      if left <= 0 then return nil end
      local data, err = sock:receive(left)
      if not data then return nil, err end
      left = 0
      return data
    end
  end
  self.keepalive = false  -- the body ends with the connection
  local done = false
  return function()
    if done then return nil end
    done = true
    local data, err = sock:receive("*a")
    if not data then return nil, err end
    return data
  end
end

local function read_body(res)
  if not res.has_body then return "" end
  local reader = res.body_reader
  local parts = {}
  while true do
    local piece, err = reader()
    if err then return nil, err end
    if not piece then break end
    parts[#parts + 1] = piece
  end
  return concat(parts)
end

function _M:request(params)
  local ok, err = send_request(self, params)
  if not ok then return nil, err end
  local line
  repeat  -- 1xx interim answers are skipped
    line, err = self.sock:receive("*l")
    if not line then return nil, err end
    local status = tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
    if not status then return nil, "bad status line: " .. line end
    local headers
    headers, err = read_headers(self.sock)
    if not headers then return nil, err end
    if status >= 200 or status == 101 then
      local version = tonumber(line:match("^HTTP/(%d%.%d)"))
      local res = { status = status, reason = line:match("^HTTP/%d%.%d %d%d%d ?(.*)$"), headers = headers }
      local conn = headers["connection"]
      if version == 1.0 or (type(conn) == "string" and lower(conn) == "close") then self.keepalive = false end
      local method = upper(params.method or "GET")
      res.has_body = method ~= "HEAD" and status ~= 204 and status ~= 304 and status >= 200
      res.body_reader = res.has_body and body_reader(self, res) or function() return nil end
      res.read_body = read_body
      res.read_trailers = function() end
      return res
    end
  until false
end

function _M:request_uri(uri, params)
  params = params or {}
  local parsed, err = self:parse_uri(uri, false)
  if not parsed then return nil, err end
  local scheme, host, port, path, query = parsed[1], parsed[2], parsed[3], parsed[4], parsed[5]
  if params.path then path = params.path end
  if params.query then query = encode_query(params.query) end
  local ok
  ok, err = self:connect({ scheme = scheme, host = host, port = port, ssl_verify = params.ssl_verify,
                           ssl_server_name = params.ssl_server_name, pool = params.pool })
  if not ok then return nil, err end
  if params.keepalive == false then self.keepalive = false end
  local request = { method = params.method, path = path, query = query, headers = params.headers,
                    body = params.body, version = params.version }
  local res
  res, err = self:request(request)
  if not res then self.sock:close() return nil, err end
  local body
  body, err = res:read_body()
  if not body then self.sock:close() return nil, err end
  res.body = body
  if params.keepalive == false or not self.keepalive then
    self.sock:close()
  else
    self:set_keepalive(params.keepalive_timeout, params.keepalive_pool)
  end
  return res
end

function _M:set_keepalive(timeout, size)
  if self.keepalive == false then
    self.sock:close()
    return 2
  end
  return self.sock:setkeepalive(timeout, size)
end
function _M:get_reused_times() return self.sock:getreusedtimes() end
function _M:close() return self.sock:close() end

return _M
)lua";

}  // namespace wg::lua

// The PDK's second Lua chunk: what waits (ngx.sleep, ngx.timer, cosockets,
// kong.cache with its callback lock), ngx.re and the string helpers, and
// resty.lrucache, over the C primitives of worker_lua, cosocket, ngx_codec
// and invalidations. It runs after the first (prelude.cc) with the same
// `wg` table and hooks; resty.http (resty_http.cc) is written on it.
#include "lua/pdk.h"

namespace wg::lua {

const char* const kPreludeNgx = R"lua(
local wg, hooks = ...
local type, tostring, select, concat, unpack = type, tostring, select, table.concat, unpack

function ngx.sleep(seconds)
  if type(seconds) ~= "number" or seconds < 0 then error("invalid sleep duration", 2) end
  -- at least one loop turn: others run meanwhile
  wg.wait(wg.new_wait(), math.max(seconds * 1000, 1))
end

-- ngx.timer: fn(premature, ...) in a coroutine of its own on the worker.
local function timer(every, delay, fn, ...)
  if type(delay) ~= "number" then error("bad argument #1 to 'at' (number expected, got " .. type(delay) .. ")", 3) end
  if type(fn) ~= "function" then error("bad argument #2 to 'at' (function expected, got " .. type(fn) .. ")", 3) end
  local n, args = select("#", ...), { ... }
  return wg.timer(delay, every, function(premature) return fn(premature, unpack(args, 1, n)) end)
end
ngx.timer = {
  at = function(delay, fn, ...) return timer(false, delay, fn, ...) end,
  every = function(delay, fn, ...)
    if type(delay) == "number" and delay <= 0 then error("bad argument #1 to 'every' (positive delay expected)", 2) end
    return timer(true, delay, fn, ...)
  end,
  running_count = function() return 0 end,
  pending_count = wg.timer_count,
}

-- String helpers (lua/ngx_codec.cc).
ngx.encode_base64 = wg.encode_base64
ngx.decode_base64 = wg.decode_base64
ngx.md5, ngx.md5_bin, ngx.sha1_bin, ngx.hmac_sha1 = wg.md5, wg.md5_bin, wg.sha1_bin, wg.hmac_sha1
ngx.crc32_short, ngx.crc32_long = wg.crc32, wg.crc32
ngx.escape_uri = function(s, t) return wg.escape_uri(tostring(s), t) end
ngx.unescape_uri = function(s) return wg.unescape_uri(tostring(s)) end

-- ngx.re on PCRE2: one primitive, wg.re_exec(subject, regex, options, init,
-- captures) -> from, to[, captures] | nil[, err].
local re_exec = wg.re_exec
local re = {}
function re.match(subject, regex, options, ctx)
  local from, to, caps = re_exec(subject, regex, options, ctx and ctx.pos or 1, true)
  if not from then return nil, to end
  if ctx then ctx.pos = to + 1 end
  return caps
end
function re.find(subject, regex, options, ctx, nth)
  local from, to = re_exec(subject, regex, options, ctx and ctx.pos or 1, false)
  if not from then return nil, nil, to end
  if ctx then ctx.pos = to + 1 end
  return from, to
end
function re.gmatch(subject, regex, options)
  local pos, done = 1, false
  return function()
    if done then return nil end
    local from, to, caps = re_exec(subject, regex, options, pos, true)
    if not from then
      done = true
      return nil, to
    end
    pos = to >= from and to + 1 or to + 2  -- an empty match moves on one byte
    if pos > #subject + 1 then done = true end
    return caps
  end
end
-- "$0", "$1", "${name}", "$$" in a replacement template.
local function expand(template, caps)
  return (template:gsub("%$(%b{})", function(name) return caps[tonumber(name:sub(2, -2)) or name:sub(2, -2)] or "" end)
                  :gsub("%$(%$?)(%d?)", function(dollar, digit)
                    if dollar == "$" then return "$" .. digit end
                    if digit == "" then error("invalid capturing variable name", 0) end
                    local v = caps[tonumber(digit)]
                    return v or ""
                  end))
end
local function substitute(subject, regex, replace, options, global)
  local out, pos, n = {}, 1, 0
  while pos <= #subject + 1 do
    local from, to, caps = re_exec(subject, regex, options, pos, true)
    if not from then
      if to then return nil, nil, to end
      break
    end
    out[#out + 1] = subject:sub(pos, from - 1)
    local r
    if type(replace) == "function" then r = tostring(replace(caps)) else r = expand(tostring(replace), caps) end
    out[#out + 1] = r
    n = n + 1
    if to >= from then
      pos = to + 1
    else  -- an empty match: keep the next byte and move on
      out[#out + 1] = subject:sub(from, from)
      pos = from + 1
    end
    if not global then break end
  end
  out[#out + 1] = subject:sub(pos)
  return concat(out), n
end
function re.sub(subject, regex, replace, options) return substitute(subject, regex, replace, options, false) end
function re.gsub(subject, regex, replace, options) return substitute(subject, regex, replace, options, true) end
re.opt = function() end
ngx.re = re

-- ngx.socket.tcp: cosockets over the C primitives (lua/cosocket.cc). Each
-- primitive answers "again" when it would block; then the coroutine waits
-- on the socket (the worker serves others) and asks again.
local tcp = {}
local tcp_mt = { __index = tcp }
local function sock_wait(self, ms)
  return wg.sock_wait(self.ud, ms)
end
function tcp:settimeout(ms)
  ms = tonumber(ms) or 0
  self.connect_ms, self.send_ms, self.read_ms = ms, ms, ms
end
function tcp:settimeouts(c, s, r)
  self.connect_ms, self.send_ms, self.read_ms = tonumber(c) or 0, tonumber(s) or 0, tonumber(r) or 0
end
function tcp:connect(host, port, opts)
  if type(host) ~= "string" then error("bad argument #2 to 'connect' (string expected)", 2) end
  local address, key
  if host:sub(1, 5) == "unix:" then
    address, key = host, host
  else
    port = tonumber(port)
    if not port or port < 0 or port > 65535 then return nil, "bad port number: " .. tostring(port) end
    local pending, err
    address, pending = wg.resolve(host)
    if not address then
      if type(pending) ~= "number" then return nil, host .. " could not be resolved (" .. tostring(pending) .. ")" end
      if not wg.wait(pending, self.connect_ms) then return nil, "timeout" end
      address, err = wg.resolved(pending)
      if not address then return nil, host .. " could not be resolved (" .. tostring(err) .. ")" end
    end
    key = host .. ":" .. port
  end
  if type(opts) == "table" and opts.pool then key = opts.pool end
  local ok, err = wg.sock_connect(self.ud, address, port or 0, key)
  while not ok and err == "again" do
    if not sock_wait(self, self.connect_ms) then
      wg.sock_close(self.ud)
      return nil, "timeout"
    end
    ok, err = wg.sock_connected(self.ud)
  end
  if not ok then return nil, err end
  return 1
end
function tcp:send(data)
  if type(data) == "table" then data = concat(data) else data = tostring(data) end
  local n, err = wg.sock_send(self.ud, data)
  while not n and err == "again" do
    if not sock_wait(self, self.send_ms) then
      wg.sock_close(self.ud)
      return nil, "timeout"
    end
    n, err = wg.sock_send(self.ud, nil)
  end
  if not n then return nil, err end
  return #data
end
local function receive(self, mode, arg)
  local data, err, partial = wg.sock_receive(self.ud, mode, arg)
  while not data and err == "again" do
    if not sock_wait(self, self.read_ms) then
      return wg.sock_receive(self.ud, mode, arg, true)
    end
    data, err, partial = wg.sock_receive(self.ud, mode, arg)
  end
  return data, err, partial
end
function tcp:receive(pattern)
  if pattern == nil or pattern == "*l" or pattern == "l" then return receive(self, "l") end
  if pattern == "*a" or pattern == "a" then return receive(self, "a") end
  local n = tonumber(pattern)
  if not n or n < 0 then error("bad argument #2 to 'receive' (bad pattern argument)", 2) end
  if n == 0 then return "" end
  return receive(self, "n", n)
end
function tcp:receiveany(max)
  max = tonumber(max)
  if not max or max <= 0 then error("bad argument #2 to 'receiveany' (bad max argument)", 2) end
  return receive(self, "s", max)
end
function tcp:receiveuntil(pattern, opts)
  if type(pattern) ~= "string" or pattern == "" then error("bad argument #2 to 'receiveuntil' (pattern is empty)", 2) end
  local mode = (type(opts) == "table" and opts.inclusive) and "U" or "u"
  local done = false
  return function(size)
    if done then return nil, nil end
    local data, err, partial = receive(self, mode, pattern)
    if data then done = true end
    return data, err, partial
  end
end
function tcp:setkeepalive(timeout, size) return wg.sock_keepalive(self.ud, timeout, size) end
function tcp:close() return wg.sock_close(self.ud) end
function tcp:getreusedtimes() return wg.sock_reused(self.ud) end
function tcp:setoption() return true end
-- sslhandshake(reused_session, server_name, ssl_verify): TLS 1.2+ with the
-- system's CA certificates; ssl_verify also checks the name. Answers true
-- (no session reuse).
function tcp:sslhandshake(reused_session, server_name, ssl_verify)
  local ok, err = wg.sock_handshake(self.ud, server_name, ssl_verify)
  while not ok and err == "again" do
    if not sock_wait(self, self.connect_ms) then
      wg.sock_close(self.ud)
      return nil, "timeout"
    end
    ok, err = wg.sock_handshake(self.ud, server_name, ssl_verify)
  end
  if not ok then return nil, err end
  return true
end
ngx.socket = {
  tcp = function()
    return setmetatable({ ud = wg.tcp(), connect_ms = 60000, send_ms = 60000, read_ms = 60000 }, tcp_mt)
  end,
}
ngx.socket.connect = function(host, port)
  local s = ngx.socket.tcp()
  local ok, err = s:connect(host, port)
  if not ok then return nil, err end
  return s
end

-- kong.cache: the worker's cache with a loader (mlcache's L1 and its
-- callback lock; no shared L2). A miss runs cb(...) once per key: other
-- coroutines asking for the key meanwhile wait (yield) for its answer.
-- An approximate LRU: two generations, the older dropped when the young
-- one is full. invalidate() reaches every worker (wg.cache_*), purged on
-- a config reload.
local CACHE_LRU_SIZE = 5e5  -- Kong's
local LOCK_TIMEOUT_MS, LOCK_EXPIRY_S = 5000, 30  -- resty.lock's, as mlcache uses them
local cache_young, cache_old, cache_count, cache_gen = {}, {}, 0, wg.cache_generation()
local loading = {}
local function cache_drop(key) cache_young[key], cache_old[key] = nil, nil end
local function cache_sync()
  local gen = wg.cache_generation()
  if gen == cache_gen then return end
  local keys = wg.cache_invalidations(cache_gen)
  if keys then
    for i = 1, #keys do cache_drop(keys[i]) end
  else  -- fell too far behind: all of it
    cache_young, cache_old, cache_count = {}, {}, 0
  end
  cache_gen = gen
end
local function cache_lookup(key, now)
  local e = cache_young[key]
  if not e then
    e = cache_old[key]
    if not e then return nil end
    cache_old[key] = nil
    cache_young[key] = e
    cache_count = cache_count + 1
  end
  if e.expires and e.expires <= now then
    cache_drop(key)
    return nil
  end
  return e
end
local function cache_store(key, value, ttl, now)
  if cache_count >= CACHE_LRU_SIZE / 2 then
    cache_old, cache_young, cache_count = cache_young, {}, 0
  end
  if cache_young[key] == nil then cache_count = cache_count + 1 end
  cache_young[key] = { value = value, expires = ttl > 0 and now + ttl or nil }
end
local cache = {}
function cache:get(key, opts, cb, ...)
  if type(key) ~= "string" then error("key must be a string", 2) end
  if type(cb) ~= "function" then error("callback must be a function", 2) end
  cache_sync()
  local now = ngx.now()
  local e = cache_lookup(key, now)
  if e then return e.value, nil, 1 end
  local lock = loading[key]
  while lock and now - lock.started < LOCK_EXPIRY_S do
    local id = wg.new_wait()
    lock[#lock + 1] = id
    if not wg.wait(id, LOCK_TIMEOUT_MS) then
      return nil, "failed to get from node cache: could not acquire callback lock: timeout"
    end
    now = ngx.now()
    e = cache_lookup(key, now)
    if e then return e.value, nil, 2 end
    lock = loading[key]
  end
  lock = { started = now }
  loading[key] = lock
  local ok, value, err, ttl = pcall(cb, ...)
  if loading[key] == lock then loading[key] = nil end
  for i = 1, #lock do wg.wake(lock[i]) end
  if not ok then return nil, "failed to get from node cache: callback threw an error: " .. tostring(value) end
  if err ~= nil then return nil, "failed to get from node cache: " .. tostring(err) end
  opts = type(opts) == "table" and opts or {}
  if type(ttl) ~= "number" then
    if value == nil then ttl = opts.neg_ttl or cache.neg_ttl else ttl = opts.ttl or cache.ttl end
  end
  if ttl >= 0 then cache_store(key, value, ttl, ngx.now()) end
  return value, nil, 3
end
function cache:probe(key)
  if type(key) ~= "string" then error("key must be a string", 2) end
  cache_sync()
  local now = ngx.now()
  local e = cache_lookup(key, now)
  if not e then return nil end
  return e.expires and e.expires - now or 0, nil, e.value
end
function cache:invalidate_local(key)
  if type(key) ~= "string" then error("key must be a string", 2) end
  cache_drop(key)
end
function cache:invalidate(key)
  if type(key) ~= "string" then error("key must be a string", 2) end
  cache_drop(key)
  wg.cache_invalidate(key)
end
function cache:purge()
  cache_young, cache_old, cache_count, loading = {}, {}, 0, {}
end
cache.ttl, cache.neg_ttl = 0, 0  -- db_cache_ttl and db_cache_neg_ttl's defaults: no expiry
kong.cache = cache
kong.core_cache = cache
function hooks.purge_cache() cache:purge() end

-- resty.lrucache: a per-worker LRU (a doubly linked list and a key index),
-- values with an optional ttl in seconds; get answers value, or nil and the
-- stale value.
package.preload["resty.lrucache"] = function()
  local lrucache = { _VERSION = "0.13" }
  local mt = { __index = lrucache }
  function lrucache.new(size)
    if type(size) ~= "number" or size < 1 then return nil, "size too small" end
    local head = {}
    head.prev, head.next = head, head
    return setmetatable({ size = size, used = 0, head = head, index = {} }, mt)
  end
  local function unlink(n) n.prev.next, n.next.prev = n.next, n.prev end
  local function push_front(self, n)
    local head = self.head
    n.next, n.prev = head.next, head
    head.next.prev = n
    head.next = n
  end
  function lrucache:get(key)
    local n = self.index[key]
    if not n then return nil end
    unlink(n)
    push_front(self, n)
    if n.expires and n.expires <= ngx.now() then return nil, n.value, n.flags end
    return n.value, nil, n.flags
  end
  function lrucache:set(key, value, ttl, flags)
    local n = self.index[key]
    if n then
      unlink(n)
    else
      if self.used >= self.size then
        local last = self.head.prev
        unlink(last)
        self.index[last.key] = nil
        self.used = self.used - 1
      end
      n = { key = key }
      self.index[key] = n
      self.used = self.used + 1
    end
    n.value, n.flags = value, flags
    n.expires = (ttl and ttl > 0) and ngx.now() + ttl or nil
    push_front(self, n)
  end
  function lrucache:delete(key)
    local n = self.index[key]
    if not n then return false end
    unlink(n)
    self.index[key] = nil
    self.used = self.used - 1
    return true
  end
  function lrucache:flush_all()
    self.head.prev, self.head.next = self.head, self.head
    self.index, self.used = {}, 0
  end
  function lrucache:count() return self.used end
  function lrucache:capacity() return self.size end
  function lrucache:get_keys(max, res)
    res = res or {}
    local i, n = 0, self.head.next
    while n ~= self.head and (not max or max == 0 or i < max) do
      i = i + 1
      res[i] = n.key
      n = n.next
    end
    res[i + 1] = nil
    return res
  end
  return lrucache
end
)lua";

}  // namespace wg::lua

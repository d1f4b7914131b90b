-- Asks an HTTP auth service about the request's token (resty.http on
-- cosockets: the request waits, the worker does not) and caches the answer
-- with kong.cache, so the service sees one call per token.
local http = require "resty.http"
local cjson = require "cjson.safe"

local RemoteAuth = { PRIORITY = 1100, VERSION = "1.0.0" }

-- The loader: runs once per token while other requests for it wait.
local function ask(conf, token)
  local client = http.new()
  client:set_timeout(conf.timeout)
  local res, err = client:request_uri(conf.url, {
    method = "POST",
    headers = { ["Content-Type"] = "application/json", ["X-Token"] = token },
    body = cjson.encode({ token = token }),
    query = { from = "gateway" },
    ssl_verify = conf.ssl_verify,
  })
  if not res then return nil, "auth service: " .. tostring(err) end
  if res.status == 200 then
    local answer = cjson.decode(res.body)
    return { user = answer and answer.user or "?", reused = client:get_reused_times() or 0 }
  end
  if res.status == 401 or res.status == 403 then return { denied = true } end
  return nil, "auth service answered " .. res.status
end

function RemoteAuth:access(conf)
  local token = kong.request.get_header(conf.header)
  if not token then
    return kong.response.exit(401, { message = "No token" })
  end
  local key = "remote-auth:" .. token
  if kong.request.get_header("x-invalidate") then
    kong.cache:invalidate(key)
  end
  local answer, err, hit = kong.cache:get(key, { ttl = conf.ttl }, ask, conf, token)
  if err then
    kong.log.err(err)
    return kong.response.exit(502, { message = "Auth service unavailable" })
  end
  if answer.denied then
    return kong.response.exit(403, { message = "Token denied" })
  end
  kong.service.request.set_header("X-Authenticated-User", answer.user)
  kong.service.request.set_header("X-Cache-Hit", tostring(hit))
  local ttl = kong.cache:probe(key)
  kong.service.request.set_header("X-Cache-Ttl", tostring(ttl))
end

return RemoteAuth

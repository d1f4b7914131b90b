-- Kong's response phase: the whole upstream response at once. Reads it as
-- JSON, may wait (ngx.sleep) meanwhile, and replaces it.
local RespPhase = { PRIORITY = 680, VERSION = "1.0.0" }

function RespPhase:response(conf)
  local raw = kong.service.response.get_raw_body()
  local body, err = kong.service.response.get_body()
  if not body then
    kong.response.set_header("x-resp-error", err)
    return
  end
  local wait = tonumber(kong.request.get_header("x-wait-ms"))
  if wait then ngx.sleep(wait / 1000) end
  kong.response.set_header("x-resp-len", #raw)
  kong.response.set_header("x-resp-status", kong.service.response.get_status())
  kong.response.set_raw_body(string.format('{"wrapped":%s,"path":"%s"}', raw, body.path or "?"))
end

return RespPhase

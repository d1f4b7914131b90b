-- Sleeps in access (ngx.sleep yields to the worker's loop), then says how
-- long it slept; can exit or fail after the sleep.
local Sleeper = { PRIORITY = 800, VERSION = "1.0.0" }

function Sleeper:access(conf)
  local ms = tonumber(kong.request.get_header("x-sleep-ms") or "0")
  if ms == 0 then return end
  local started = ngx.now()
  for _ = 1, conf.times do
    ngx.sleep(ms / 1000 / conf.times)
  end
  local after = kong.request.get_header("x-after-sleep")
  if after == "exit" then
    return kong.response.exit(202, "woke and answered")
  elseif after == "error" then
    error("failed after sleeping")
  end
  kong.service.request.set_header("x-slept-ms", string.format("%d", (ngx.now() - started) * 1000))
end

return Sleeper

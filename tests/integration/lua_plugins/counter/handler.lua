-- Counts requests in ngx.shared.counts (one count for every worker) and
-- tells the upstream which request this is.
local Counter = { PRIORITY = 900, VERSION = "1.0.0" }
local served_here = 0  -- this worker's own count (its Lua state's)

function Counter:access(conf)
  local counts = ngx.shared[conf.dict]
  if not counts then
    return kong.response.exit(500, { message = "no shared dict " .. conf.dict })
  end
  local n, err = counts:incr(conf.key, 1, 0)
  if not n then
    return kong.response.exit(500, { message = err })
  end
  kong.service.request.set_header("x-count", string.format("%d", n))
  served_here = served_here + 1
  kong.service.request.set_header("x-served-here", tostring(served_here))
  local ok = counts:add("first", kong.request.get_path())
  kong.service.request.set_header("x-first", counts:get("first") .. (ok and ":mine" or ""))
end

return Counter

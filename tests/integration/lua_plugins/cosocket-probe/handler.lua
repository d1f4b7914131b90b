-- Talks to a line protocol server with ngx.socket.tcp in access and tells
-- the upstream what it heard; with X-Probe: header_filter it also tries a
-- cosocket where OpenResty forbids them.
local Probe = { PRIORITY = 900, VERSION = "1.0.0" }

local function check(ok, err, what)
  if not ok then error(what .. ": " .. tostring(err)) end
  return ok
end

function Probe:access(conf)
  local mode = kong.request.get_header("x-probe") or "lines"
  local sock = ngx.socket.tcp()
  sock:settimeout(tonumber(kong.request.get_header("x-probe-timeout")) or 2000)
  check(sock:connect(conf.host, conf.port), nil, "connect")
  local set = kong.service.request.set_header
  set("x-probe-reused", tostring(sock:getreusedtimes()))
  if mode == "timeout" then
    check(sock:send("SILENT\n"))
    local line, err, partial = sock:receive("*l")
    set("x-probe-result", tostring(line) .. "/" .. tostring(err) .. "/" .. tostring(partial))
    sock:close()
    return
  end
  check(sock:send({ "ECHO ", "hello", "\n" }), nil, "send")
  set("x-probe-line", check(sock:receive("*l")))
  check(sock:send("BYTES\n"))
  set("x-probe-bytes", check(sock:receive(5)))
  local line = check(sock:receive())  -- the rest of that line
  set("x-probe-rest", line)
  check(sock:send("UNTIL\n"))
  local reader = sock:receiveuntil("--end--")
  set("x-probe-until", check(reader()))
  check(sock:receive("*l"))  -- the line end after the marker
  if mode == "close" then
    check(sock:send("BYE\n"))
    local all = check(sock:receive("*a"))
    set("x-probe-all", (all:gsub("\n", "|")))
    return
  end
  check(sock:setkeepalive(10000, 4))
end

function Probe:header_filter(conf)
  if kong.request.get_header("x-probe") == "header_filter" then
    local ok, err = pcall(ngx.socket.tcp)
    kong.response.set_header("x-probe-hf", tostring(ok) .. ": " .. tostring(err))
    local ok2, err2 = pcall(ngx.sleep, 0.01)
    kong.response.set_header("x-probe-hf-sleep", tostring(ok2) .. ": " .. tostring(err2))
  end
end

return Probe

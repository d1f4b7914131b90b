-- Fails on demand: a Lua error, an endless loop, a memory hog.
local Faulty = { PRIORITY = 10, VERSION = "0.1.0" }

local function explode(what)
  error("faulty plugin exploded: " .. what)
end

function Faulty:access(conf)
  local mode = kong.request.get_header("x-fault")
  if mode == "error" then
    explode("on purpose")
  elseif mode == "loop" then
    local n = 0
    while true do n = n + 1 end
  elseif mode == "hog" then
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
  end
  kong.log.notice("faulty let ", kong.request.get_path(), " through")
end

return Faulty

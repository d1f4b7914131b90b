-- ngx.timer.at and ngx.timer.every: a timer started by a request does its
-- work after the request answered (here a cosocket-free sleep and a note),
-- an every-timer counts its runs; premature runs are logged.
local Ticker = { PRIORITY = 700, VERSION = "1.0.0" }

local state = { notes = {}, ticks = 0, every_started = false }

local function later(premature, note)
  if premature then
    kong.log.notice("ticker: premature timer for ", note)
    return
  end
  ngx.sleep(0.01)  -- timers may wait too
  state.notes[#state.notes + 1] = note
end

local function tick(premature)
  if premature then
    kong.log.notice("ticker: every-timer stopped prematurely after ", state.ticks, " ticks")
    return
  end
  state.ticks = state.ticks + 1
end

function Ticker:access(conf)
  local note = kong.request.get_header("x-note")
  if note then
    local delay = tonumber(kong.request.get_header("x-delay") or "0")
    assert(ngx.timer.at(delay, later, note))
  end
  if not state.every_started then
    state.every_started = true
    assert(ngx.timer.every(conf.every, tick))
  end
  kong.service.request.set_header("x-notes", table.concat(state.notes, ","))
  kong.service.request.set_header("x-ticks", tostring(state.ticks))
  kong.service.request.set_header("x-pending", tostring(ngx.timer.pending_count()))
end

return Ticker

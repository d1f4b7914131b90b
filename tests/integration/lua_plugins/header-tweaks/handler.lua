-- Adds headers on both sides and carries a value from access to
-- header_filter through kong.ctx.
local kong = kong

local HeaderTweaks = {
  PRIORITY = 950,
  VERSION = "1.0.0",
}

function HeaderTweaks:access(conf)
  local who = kong.request.get_header("X-Who") or "nobody"
  kong.service.request.set_header(conf.request_header, conf.value .. ":" .. who)
  kong.service.request.clear_header("X-Drop-Me")
  kong.service.request.add_header("X-Lua-Path", kong.request.get_path())
  kong.service.request.add_header("X-Lua-Query", kong.request.get_query_arg("q") or "none")
  kong.service.request.add_header("X-Lua-Method", kong.request.get_method())
  local route = kong.router.get_route()
  kong.service.request.add_header("X-Lua-Route", route and route.name or "none")
  kong.ctx.shared.seen_at_access = who
  kong.ctx.plugin.mine = "plugin-ctx"
end

function HeaderTweaks:header_filter(conf)
  -- A response another plugin answered in access never ran ours: Kong still
  -- runs header_filter on it.
  local seen = kong.ctx.shared.seen_at_access or "unseen"
  kong.response.set_header(conf.response_header, seen .. "/" .. (kong.ctx.plugin.mine or "unset"))
  kong.response.add_header("X-Upstream-Status", tostring(kong.service.response.get_status()))
  kong.response.clear_header("X-Secret")
  local headers = kong.response.get_headers()
  kong.response.set_header("X-Saw-Content-Type", headers["Content-Type"] or "none")
end

return HeaderTweaks

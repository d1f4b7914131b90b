-- Answers in access when the request carries X-Block, with a JSON body
-- (a table) or Kong's error template.
local Gatekeeper = { PRIORITY = 1200, VERSION = "0.1.0" }

function Gatekeeper:access(conf)
  local block = kong.request.get_header("x-block")
  if block == "exit" then
    return kong.response.exit(conf.status, { message = conf.message }, { ["X-Blocked-By"] = "gatekeeper" })
  elseif block == "error" then
    return kong.response.error(403)
  end
  kong.service.request.set_header("X-Gatekeeper", "passed")
end

return Gatekeeper

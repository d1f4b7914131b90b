-- Upper-cases the response body in body_filter and says how long it was.
local BodyUpper = { PRIORITY = 700, VERSION = "1.0.0" }

function BodyUpper:header_filter(conf)
  kong.response.clear_header("Content-Length")
end

function BodyUpper:body_filter(conf)
  local body = kong.response.get_raw_body()
  if body then
    kong.response.set_raw_body(conf.prefix .. body:upper())
  end
end

return BodyUpper

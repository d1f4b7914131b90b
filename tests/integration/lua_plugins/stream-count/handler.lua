-- body_filter on each piece as it streams (ngx.arg[1], ngx.arg[2]): counts
-- the pieces and bytes, lower-cases each piece, and appends a summary at
-- the end; with X-Cut: N it ends the body after N bytes (ngx.arg[2] = true).
local StreamCount = { PRIORITY = 690, VERSION = "1.0.0" }

function StreamCount:header_filter(conf)
  kong.response.clear_header("Content-Length")
end

function StreamCount:body_filter(conf)
  local ctx = kong.ctx.plugin
  local chunk, eof = ngx.arg[1], ngx.arg[2]
  ctx.pieces = (ctx.pieces or 0) + (chunk ~= "" and 1 or 0)
  ctx.bytes = (ctx.bytes or 0) + #chunk
  local cut = tonumber(kong.request.get_header("x-cut"))
  if cut and ctx.bytes >= cut then
    ngx.arg[1] = chunk:sub(1, #chunk - (ctx.bytes - cut)):lower()
    ngx.arg[2] = true
    return
  end
  ngx.arg[1] = chunk:lower()
  if eof then
    ngx.arg[1] = ngx.arg[1] .. string.format("\n<pieces=%d bytes=%d>", ctx.pieces, ctx.bytes)
  end
end

return StreamCount

// Request properties by dotted path, read from the Exchange: Envoy's
// attribute names (request.*, source.*, response.code, route_name,
// cluster_name), Kong's (kong.route_name, kong.service_name), ours
// (wasmgate.*), and what handlers set for each other. Proxy-Wasm's
// proxy_get_property reads them here; Lua's PDK will too.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/exchange.h"

namespace wg::pipeline {

// The value at `path` ("request.headers.x-id"); false when there is none.
// Numbers (source.port, response.code) are 8 little-endian bytes, as
// Envoy gives them.
bool get_property(const Exchange& x, std::string_view path, std::string* out);

// Whether a handler may set `path`: the host's own attributes are read-only.
bool property_writable(std::string_view path);

}  // namespace wg::pipeline

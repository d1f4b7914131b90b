// GET /filters on the admin listener (a wasmgate extension: Kong lists no
// filters): every Wasm filter of the filters directory as the last build
// loaded it, with its Proxy-Wasm ABI version and its exports, and Kong's
// GET /schemas/filters/{name} (the filter's configuration schema from
// NAME.meta.json). In runtime/ because the filters are the reloader's.
#pragma once

#include "admin/server.h"
#include "runtime/reloader.h"

namespace wg::runtime {

// Added before Kong's entity patterns (/schemas/filters/{name} would match
// /schemas/{entity}/validate's shape otherwise).
void add_filter_routes(admin::AdminServer& server, const Reloader& reloader);

}  // namespace wg::runtime

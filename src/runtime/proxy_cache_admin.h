// Kong's proxy-cache Admin API on the admin listener: DELETE /proxy-cache
// (every entry of every store), GET and DELETE /proxy-cache/{cache_key}.
#pragma once

#include "admin/server.h"

namespace wg::runtime {

void add_proxy_cache_routes(admin::AdminServer& server);

}  // namespace wg::runtime

// Kong's target health on the Admin API: GET /upstreams/{u}/health (each
// target with its addresses' health, as the running balancers see it) and
// POST /upstreams/{u}/targets/{t}/healthy|unhealthy (Kong's manual
// override, for every address of the target). In runtime/ because it reads
// the running snapshot's balancers.
#pragma once

#include <string>

#include "admin/server.h"
#include "config/snapshot.h"

namespace wg::runtime {

// Added before Kong's entity patterns (/upstreams/{u}/health would match
// /{entity}/{id}/{child}).
void add_upstream_health_routes(admin::AdminServer& server, const config::SnapshotHolder& snapshots,
                                std::string node_id);

}  // namespace wg::runtime

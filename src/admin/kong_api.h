// Kong's Admin API over the running config, as Kong serves it in DB-less
// mode (database "off"): the entities read by id or endpoint key, whole or
// nested under their parent, paginated and filtered by tags; POST /config
// replaces the whole config and GET /config returns it; writes to single
// entities answer Kong's "operation unsupported". With a database (a
// store set), entities are written one by one (entity_writes.h) and
// /config answers as Kong's database modes do. The gateway wires it to
// the runtime's one reload path (runtime/reloader.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "admin/server.h"
#include "config/declarative.h"
#include "store/entity_store.h"

namespace wg::admin {

struct KongApi {
  // The running config as normalized JSON (never null once started).
  std::function<std::shared_ptr<const config::Value>()> entities;
  // Replaces the running config; false with its problems when refused.
  std::function<bool(const std::string& text, config::Normalized* refused, std::vector<std::string>* errors)> apply;
  // Database mode: the store every write goes to (entities() reads it too),
  // and what to call once a write is committed; null when DB-less.
  store::EntityStore* store = nullptr;
  std::function<void()> changed;
  // Database mode: whether a normalized config would build (see
  // WriteContext::check_build).
  std::function<bool(const config::Value& entities, std::vector<std::string>* errors)> check_build;
  // Snapshots built so far (/status shows it: coalesced writes rebuild
  // far fewer times than they are written).
  std::function<uint64_t()> generation;
  std::vector<std::pair<std::string, int>> plugins_available;  // bundled plugin names and PRIORITY
  std::string version;
  std::string node_id;
  std::string proxy_listen, admin_listen;
};

// An answer with body as its JSON (the Admin API's content type): the one
// builder every Admin API endpoint answers with.
Response json(int status, const config::Value& body);

void install_kong_api(AdminServer& server, KongApi api);

// Kong's configuration hash of a normalized config: md5 hex of its JSON.
std::string configuration_hash(const config::Value& entities);

}  // namespace wg::admin

#include "runtime/upstream_health_admin.h"

#include <memory>

#include "admin/kong_api.h"
#include "config/value.h"
#include "upstream/balancer.h"

namespace wg::runtime {
namespace {

using config::Value;

using admin::json;

admin::Response not_found() { return json(404, Value{{"message", "Not found"}}); }

const upstream::Balancer* balancer_named(const config::Snapshot& snap, const std::string& key) {
  for (const auto& b : snap.balancers) {
    if (b && (b->config().name == key || b->config().id == key)) return b.get();
  }
  return nullptr;
}

bool checks_on(const upstream::Balancer& b) {
  return b.config().healthchecks.active_enabled() || b.config().healthchecks.passive_enabled();
}

std::string target_text(const config::Target& t) { return t.host + ":" + std::to_string(t.port); }

// One target as Kong's health endpoint shows it: the target, its overall
// health and each address's.
Value target_health(const upstream::Balancer& b, size_t index) {
  const config::Target& t = b.config().targets[index];
  Value addresses = Value::array();
  bool any_healthy = false;
  for (const auto& p : b.peers()) {
    if (p.target != static_cast<int>(index)) continue;
    bool healthy = p.health == nullptr || p.health->healthy();
    any_healthy = any_healthy || healthy;
    size_t colon = p.endpoint.rfind(':');
    Value a = Value::object();
    a["ip"] = p.endpoint.substr(0, colon);
    a["port"] = std::stoi(p.endpoint.substr(colon + 1));
    a["weight"] = p.weight;
    a["health"] = !checks_on(b) ? "HEALTHCHECKS_OFF" : healthy ? "HEALTHY" : "UNHEALTHY";
    addresses.push_back(std::move(a));
  }
  Value v = Value::object();
  v["id"] = t.id;
  v["target"] = target_text(t);
  v["weight"] = t.weight;
  v["upstream"] = Value{{"id", b.config().id}};
  v["tags"] = t.tags;
  v["health"] = addresses.empty() ? "DNS_ERROR"
                : !checks_on(b)   ? "HEALTHCHECKS_OFF"
                : any_healthy     ? "HEALTHY"
                                  : "UNHEALTHY";
  v["data"] = Value{{"addresses", std::move(addresses)}};
  return v;
}

// Kong's override of every address of one target (by id or "host:port"),
// or of one of them when the route names an `address` ("ip:port").
admin::Response set_health(const config::Snapshot& snap, const admin::Request& r, bool healthy) {
  if (r.method != "POST") return json(405, Value{{"message", "Method not allowed"}});
  const upstream::Balancer* b = balancer_named(snap, r.params.at("upstream"));
  if (b == nullptr) return not_found();
  const std::string& key = r.params.at("target");
  auto address = r.params.find("address");
  const auto& targets = b->config().targets;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (targets[i].id != key && target_text(targets[i]) != key) continue;
    bool any = false;
    for (const auto& p : b->peers()) {
      if (p.target != static_cast<int>(i) || (address != r.params.end() && p.endpoint != address->second)) continue;
      any = true;
      if (p.health) p.health->set(healthy, p.name);
    }
    if (!any && address != r.params.end()) return not_found();  // not one of the target's addresses
    admin::Response done;
    done.status = 204;
    return done;
  }
  return not_found();
}

}  // namespace

void add_upstream_health_routes(admin::AdminServer& server, const config::SnapshotHolder& snapshots,
                                std::string node_id) {
  const config::SnapshotHolder* holder = &snapshots;
  server.add_api_route("/upstreams/{upstream}/health", [holder, node_id](const admin::Request& r) {
    if (r.method != "GET") return json(405, Value{{"message", "Method not allowed"}});
    std::shared_ptr<const config::Snapshot> snap = holder->get();
    const upstream::Balancer* b = balancer_named(*snap, r.params.at("upstream"));
    if (b == nullptr) return not_found();
    Value data = Value::array();
    for (size_t i = 0; i < b->config().targets.size(); ++i) data.push_back(target_health(*b, i));
    return json(200, Value{{"node_id", node_id}, {"data", std::move(data)}, {"next", nullptr}});
  });
  for (const char* state : {"healthy", "unhealthy"}) {
    bool healthy = std::string(state) == "healthy";
    auto handler = [holder, healthy](const admin::Request& r) { return set_health(*holder->get(), r, healthy); };
    server.add_api_route(std::string("/upstreams/{upstream}/targets/{target}/") + state, handler);
    server.add_api_route(std::string("/upstreams/{upstream}/targets/{target}/{address}/") + state, handler);
  }
}

}  // namespace wg::runtime

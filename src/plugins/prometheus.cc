// prometheus (PRIORITY 13): counts each request of its scope in the log
// phase (status codes, bandwidth, latencies, as its switches say) for the
// admin listener's /metrics, where Kong's exporter families are rendered
// (shared/kong_metrics.h). Per request: one table lookup per family and a
// few adds into this worker's own counters; labels known when the config
// is built are interned then.
#include "plugins/prometheus.h"

#include <time.h>

#include <random>
#include <unordered_map>

#include "core/version.h"
#include "plugins/bundled.h"
#include "plugins/consumers.h"
#include "shared/kong_metrics.h"
#include "shared/node_stats.h"

namespace wg::plugins {
namespace {

constexpr uint32_t kNoRoute = UINT32_MAX;

uint64_t monotonic_ms() {
  // The event loop's clock (CLOCK_MONOTONIC), so times compare with x.timings.
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Whether instance p of the config applies to route r at all (Kong's
// precedence picks among those later; interning a few extra labels costs
// nothing per request).
bool may_apply(const BuildContext& ctx, const config::Declarative& d, size_t r) {
  const config::Route& route = d.routes[r];
  if (!ctx.route_id.empty() && route.id != ctx.route_id) return false;
  if (!ctx.service_id.empty() && (route.service < 0 || d.services[route.service].id != ctx.service_id)) return false;
  return true;
}

class Prometheus : public Plugin {
  static bool counts(const config::Value& c) {
    return c.value("status_code_metrics", false) || c.value("latency_metrics", false) ||
           c.value("bandwidth_metrics", false);
  }

 public:
  Prometheus(const config::Value& c, const BuildContext& ctx)
      // With every per-request switch off (Kong's default) it counts
      // nothing per request: no phase, so routes run no handler for it.
      : Plugin("prometheus", 13, counts(c) ? pipeline::phase_bit(pipeline::Phase::Log) : 0),
        per_consumer_(c.value("per_consumer", false)),
        status_(c.value("status_code_metrics", false)),
        latency_(c.value("latency_metrics", false)),
        bandwidth_(c.value("bandwidth_metrics", false)) {
    if (ctx.decl == nullptr || !(status_ || latency_ || bandwidth_)) return;
    shared::KongMetrics& m = shared::KongMetrics::instance();
    const config::Declarative& d = *ctx.decl;
    // Kong's labels: the service's name (else its host), the route's name
    // (else its id).
    route_keys_.assign(d.routes.size(), kNoRoute);
    for (size_t r = 0; r < d.routes.size(); ++r) {
      if (!may_apply(ctx, d, r)) continue;
      const config::Route& route = d.routes[r];
      std::string_view service;
      if (route.service >= 0) {
        const config::Service& s = d.services[route.service];
        service = s.name.empty() ? s.host : s.name;
      }
      route_keys_[r] = m.route_key(service, route.name.empty() ? route.id : route.name);
    }
    // The consumer label is the username ("" without one).
    if (per_consumer_ && (status_ || bandwidth_)) {
      for (const auto& consumer : d.consumers) consumer_keys_.emplace(consumer.id, m.consumer_key(consumer.username));
    }
  }

  // Counting needs the exchange's facts, not its headers.
  uint32_t heads() const override { return 0; }

  void on_log(Exchange& x, Slot&) const override {
    if (route_keys_.empty() || x.match == nullptr) return;
    const size_t r = static_cast<size_t>(x.match->route);
    if (r >= route_keys_.size() || route_keys_[r] == kNoRoute) return;
    const uint32_t route = route_keys_[r];
    shared::SeriesTable& t = shared::KongMetrics::local();
    const uint32_t consumer = per_consumer_ && !x.consumer_id.empty() ? consumer_key(x.consumer_id) : 0;
    const pipeline::Timings& tm = x.timings;
    if (status_) {
      // Kong's source: "service" when the upstream's answer went out, "kong"
      // when the gateway or a plugin answered. A client gone before any
      // answer is nginx's 499.
      const bool from_service = tm.upstream_head_ms != 0 && !x.local_reply;
      t.count_status(route, x.log.status != 0 ? x.log.status : 499, from_service, consumer);
    }
    if (bandwidth_) t.add_bandwidth(route, consumer, x.log.request_size, x.log.bytes_sent);
    if (latency_) {
      // Kong's latencies: request = the whole exchange; upstream = until
      // the upstream's response head (none when it never answered); kong =
      // until the request went upstream, or until the gateway answered.
      const int64_t now = static_cast<int64_t>(monotonic_ms());
      const int64_t start = static_cast<int64_t>(tm.start_ms != 0 ? tm.start_ms : now);
      const int64_t request = now - start;
      const int64_t upstream = tm.upstream_head_ms != 0 && tm.upstream_start_ms != 0
                                   ? static_cast<int64_t>(tm.upstream_head_ms - tm.upstream_start_ms)
                                   : -1;
      const int64_t kong = tm.upstream_start_ms != 0 ? static_cast<int64_t>(tm.upstream_start_ms) - start : request;
      t.observe_latencies(route, kong, upstream, request);
    }
  }

 private:
  uint32_t consumer_key(std::string_view id) const {
    auto it = consumer_keys_.find(id);
    return it == consumer_keys_.end() ? 0 : it->second;
  }

  bool per_consumer_, status_, latency_, bandwidth_;
  std::vector<uint32_t> route_keys_;  // by route index: interned (service, route) labels, or kNoRoute
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> consumer_keys_;  // consumer id -> key
};


// Kong's test for an upstream "using health checks" (balancer/healthcheckers).
bool using_healthchecks(const config::Healthchecks& h) {
  return h.active_enabled() || h.passive.unhealthy_tcp_failures > 0 || h.passive.unhealthy_timeouts > 0 ||
         h.passive.unhealthy_http_failures > 0;
}

// One row per target address of every upstream entity, as Kong's
// get_upstream_health reports them.
void target_rows(const config::Snapshot& s, std::vector<shared::NodeView::Target>* rows) {
  for (size_t u = 0; u < s.decl.upstreams.size() && u < s.balancers.size(); ++u) {
    const upstream::Balancer& b = *s.balancers[u];
    const config::Upstream& cfg = b.config();
    const bool checked = using_healthchecks(cfg.healthchecks);
    for (size_t t = 0; t < cfg.targets.size(); ++t) {
      const config::Target& target = cfg.targets[t];
      if (target.weight == 0) continue;  // not in the balancer
      const bool v6 = target.host.find(':') != std::string::npos;
      std::string name = (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
      bool any = false;
      for (const upstream::Peer& p : b.peers()) {
        if (p.target != static_cast<int>(t)) continue;
        any = true;
        // Kong's address label: ip:port, an IPv6 address without brackets.
        std::string address = p.endpoint;
        if (!address.empty() && address[0] == '[') {
          size_t close = address.find(']');
          address = address.substr(1, close - 1) + address.substr(close + 1);
        }
        const char* state = !checked ? "healthchecks_off" : p.health->healthy() ? "healthy" : "unhealthy";
        rows->push_back({cfg.name, name, std::move(address), state});
      }
      if (!any) rows->push_back({cfg.name, name, "", "dns_error"});
    }
  }
}

}  // namespace

std::string prometheus_exposition(const config::Snapshot* snapshot) {
  shared::NodeView node;
  node.node_id = node_id();
  node.version = WASMGATE_VERSION;
  if (snapshot != nullptr) {
    // As Kong's exporter: the per-request families once an instance is
    // configured; upstream health once any instance asks for it.
    for (const auto& p : snapshot->decl.plugins) {
      if (p.name != "prometheus" || !p.enabled) continue;
      node.plugin_enabled = true;
      config::Value c = config::Value::parse(p.config_json);
      if (c.is_object() && c.value("upstream_health_metrics", false)) node.upstream_health = true;
    }
    if (node.upstream_health) target_rows(*snapshot, &node.targets);
  }
  const shared::NodeTotals n = shared::NodeStats::instance().totals();
  node.accepted = node.handled = n.accepted;
  node.active = n.accepted > n.closed ? n.accepted - n.closed : 0;  // two loads: closed may be ahead
  node.requests = n.requests;
  node.reading = n.reading;
  node.writing = n.writing;
  node.waiting = n.waiting;
  return shared::KongMetrics::instance().render(node);
}

PluginType prometheus_type() {
  Field config = config_record({
      Field("per_consumer", Type::Boolean).req().def(false),
      Field("status_code_metrics", Type::Boolean).req().def(false),
      Field("ai_metrics", Type::Boolean).req().def(false).not_yet(),
      Field("latency_metrics", Type::Boolean).req().def(false),
      Field("bandwidth_metrics", Type::Boolean).req().def(false),
      Field("upstream_health_metrics", Type::Boolean).req().def(false),
      Field("wasm_metrics", Type::Boolean).req().def(false).not_yet(),
  });
  return {"prometheus", 13, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<Prometheus>(c, ctx);
          }};
}


}  // namespace wg::plugins

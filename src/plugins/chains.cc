#include "plugins/chains.h"

#include <map>

#include "plugins/by_consumer.h"
#include "plugins/consumers.h"
#include "plugins/plugin.h"

namespace wg::plugins {
namespace {

// Kong's precedence among instances of one plugin for a route of a service
// and a consumer (higher wins): consumer + route + service, consumer +
// route, consumer + service, route + service, consumer, route, service,
// global. -1: the instance is scoped elsewhere.
int specificity(const config::PluginInstance& p, int route, int service) {
  const bool on_route = p.route >= 0, on_service = p.service >= 0, on_consumer = !p.consumer.empty();
  if ((on_route && p.route != route) || (on_service && p.service != service)) return -1;
  if (on_consumer) return on_route && on_service ? 7 : on_route ? 6 : on_service ? 5 : 3;
  return on_route && on_service ? 4 : on_route ? 2 : on_service ? 1 : 0;
}

// The winning instances of one plugin for one route: for any consumer
// (index, or -1 for none), and for the consumers whose own instance beats it.
struct Winners {
  int rank = -1;
  int any = -1;
  std::map<std::string, std::pair<int, size_t>> by_consumer;  // consumer id -> (rank, instance)
};

std::map<std::string, Winners> winners_for_route(const config::Declarative& decl,
                                                 const std::vector<std::shared_ptr<Plugin>>& handlers, int route,
                                                 int service) {
  std::map<std::string, Winners> by_name;
  for (size_t i = 0; i < decl.plugins.size(); ++i) {
    if (!handlers[i]) continue;
    const config::PluginInstance& p = decl.plugins[i];
    int rank = specificity(p, route, service);
    if (rank < 0) continue;
    Winners& w = by_name[p.name];
    if (p.consumer.empty()) {
      if (rank > w.rank) w.rank = rank, w.any = static_cast<int>(i);
      continue;
    }
    auto [it, fresh] = w.by_consumer.try_emplace(p.consumer, rank, i);
    if (!fresh && rank > it->second.first) it->second = {rank, i};
  }
  return by_name;
}

// The chain entry for one plugin: its instance, or a ByConsumer choosing
// among its consumers' instances.
std::shared_ptr<const pipeline::Handler> entry(const Winners& w, const std::vector<std::shared_ptr<Plugin>>& handlers) {
  std::shared_ptr<const pipeline::Handler> any = w.any >= 0 ? handlers[w.any] : nullptr;
  std::unordered_map<std::string, std::shared_ptr<const pipeline::Handler>> own;
  for (const auto& [consumer, chosen] : w.by_consumer) {
    if (chosen.first > w.rank) own.emplace(consumer, handlers[chosen.second]);
  }
  if (own.empty()) return any;
  return std::make_shared<ByConsumer>(std::move(any), std::move(own));
}

}  // namespace

void add_plugin_chains(const config::Declarative& decl, pipeline::ChainSet& set, std::vector<std::string>* errors) {
  // One handler per instance, shared by every route it applies to.
  BuildContext ctx;
  ctx.consumers = std::make_shared<const Consumers>(decl);
  ctx.decl = &decl;
  std::vector<std::shared_ptr<Plugin>> handlers(decl.plugins.size());
  for (size_t i = 0; i < decl.plugins.size(); ++i) {
    const config::PluginInstance& p = decl.plugins[i];
    if (!p.enabled) continue;
    const PluginType* type = find_plugin(p.name);
    if (type == nullptr) continue;  // the loader refused it already
    std::string error;
    BuildContext scoped = ctx;
    scoped.route_id = p.route >= 0 ? decl.routes[p.route].id : "";
    scoped.service_id = p.service >= 0 ? decl.services[p.service].id : "";
    handlers[i] = type->make(config::Value::parse(p.config_json), scoped, &error);
    if (!handlers[i]) {
      errors->push_back("plugin '" + (p.instance_name.empty() ? p.name : p.instance_name) + "' field 'config': " +
                        error);
      continue;
    }
    handlers[i]->set_protocols(p.protocols);
  }
  for (size_t r = 0; r < decl.routes.size() && r < set.by_route.size(); ++r) {
    const int route = static_cast<int>(r), service = decl.routes[r].service;
    for (const auto& [name, w] : winners_for_route(decl, handlers, route, service)) {
      if (auto h = entry(w, handlers)) set.by_route[r].add(std::move(h));
    }
  }
}

}  // namespace wg::plugins

#include "plugins/chains.h"

#include <map>

#include "plugins/consumers.h"
#include "plugins/plugin.h"

namespace wg::plugins {
namespace {

// Kong's precedence among instances of one plugin for a route of a service.
int specificity(const config::PluginInstance& p, int route, int service) {
  if (p.route == route && p.route >= 0 && p.service == service && p.service >= 0) return 3;
  if (p.route == route && p.route >= 0 && p.service < 0) return 2;
  if (p.route < 0 && p.service == service && p.service >= 0) return 1;
  if (p.route < 0 && p.service < 0) return 0;
  return -1;  // scoped elsewhere
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
    if (!p.consumer.empty()) {
      // Kong picks these after authentication: not done yet, so refused
      // rather than silently never run.
      errors->push_back("plugin '" + p.name + "' field 'consumer': consumer-scoped plugins are not supported yet");
      continue;
    }
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
    std::map<std::string, std::pair<int, size_t>> best;  // name -> (specificity, instance)
    for (size_t i = 0; i < decl.plugins.size(); ++i) {
      if (!handlers[i]) continue;
      int rank = specificity(decl.plugins[i], route, service);
      if (rank < 0) continue;
      auto [it, fresh] = best.try_emplace(decl.plugins[i].name, rank, i);
      if (!fresh && rank > it->second.first) it->second = {rank, i};
    }
    for (const auto& [name, chosen] : best) set.by_route[r].add(handlers[chosen.second]);
  }
}

}  // namespace wg::plugins

// Puts configured plugin instances on the route chains, by Kong's
// precedence: for each plugin name, the most specific instance that applies
// to a route runs (route + service, then route, then service, then global),
// and where a consumer's own instance is more specific than that, it runs
// for that consumer instead (see by_consumer.h).
#pragma once

#include <string>
#include <vector>

#include "config/entities.h"
#include "pipeline/chain.h"

namespace wg::plugins {

// Appends to `errors` ("plugin 'name' field 'config': why") when a config
// cannot be used; the chains are then incomplete and must not be published.
void add_plugin_chains(const config::Declarative& decl, pipeline::ChainSet& set, std::vector<std::string>* errors);

}  // namespace wg::plugins

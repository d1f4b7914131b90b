// The schema of every entity type the declarative loader accepts, and of the
// plugins that have registered one. Kong's entity files
// (kong/db/schema/entities/*.lua) are the authority for fields, defaults and
// messages.
#pragma once

#include <string>
#include <vector>

#include "config/schema.h"

namespace wg::config {

// Entity types in load order (parents before the children that reference
// them); nullptr when unknown.
const std::vector<const schema::Schema*>& entity_schemas();
const schema::Schema* entity_schema(const std::string& plural);

// Entity types Kong knows that this gateway does not serve yet: a file may
// list them empty (decK does), and each entry is refused by name.
bool entity_not_supported_yet(const std::string& plural);
std::string not_yet_label_field(const std::string& plural);  // "username" for consumers, ...

// Plugin schemas: a plugin (native now, Lua later) registers the Record its
// `config` must match, and where it may be scoped. Registration happens
// before any config loads (startup); lookups are read-only after.
struct PluginSchema {
  schema::Field config;
  // Kong's typedefs.no_consumer: an authentication plugin (and a few
  // others) runs before the consumer is known, so it cannot be scoped to one.
  bool no_consumer = false;
};
void register_plugin_schema(const std::string& name, PluginSchema schema);
const PluginSchema* plugin_schema(const std::string& name);

}  // namespace wg::config

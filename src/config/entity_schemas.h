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

// Plugin config schemas: a plugin (native now, Lua later) registers the
// Record its `config` must match. Registration happens before any config
// loads (static initialization or startup); lookups are read-only after.
void register_plugin_schema(const std::string& name, schema::Field config);
const schema::Field* plugin_config_schema(const std::string& name);

}  // namespace wg::config

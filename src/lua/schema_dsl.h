// Kong's schema DSL (what a plugin's schema.lua returns) translated onto the
// one schema engine (config/schema.h), so a Lua plugin's config is validated,
// defaulted and reported like a native plugin's. Lua functions in it
// (custom_validator, custom_entity_check, match patterns) stay in the state
// that evaluated the schema and are called there, under its lock, while a
// config is validated.
#pragma once

#include <lua.hpp>

#include <memory>
#include <mutex>
#include <string>

#include "config/schema.h"

namespace wg::lua {

class Vm;

// A state and the lock every use of it takes (config builds run on the
// main thread for SIGHUP and on the admin thread for POST /config).
struct LockedVm {
  std::mutex mu;
  std::unique_ptr<Vm> vm;
};

struct PluginSchema {
  config::schema::Field config;  // a Record
  bool no_consumer = false;      // `consumer = typedefs.no_consumer`
};

// Translates the schema table at `index` of vm's state (the lock held).
// False with *error ("field 'config.x': why") when it uses what the engine
// cannot express.
bool translate_schema(const std::shared_ptr<LockedVm>& vm, int index, PluginSchema* out, std::string* error);

}  // namespace wg::lua

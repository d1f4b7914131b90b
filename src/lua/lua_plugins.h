// Lua plugins as pipeline handlers: each plugin directory NAME/ (handler.lua,
// schema.lua) of --lua-plugins-dir, and the bundled Lua-only plugins
// pre-function and post-function, registered with the plugin registry like
// the native ones (plugins::register_types), so `plugins:` entries name them
// and their configs go through the one schema engine.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lua/vm.h"
#include "pipeline/exchange.h"
#include "pipeline/handler.h"

namespace wg::lua {

// Registers the plugins of `dir` ("" none) and the bundled Lua plugins, once
// per process (later calls only return the first call's problems). Each
// problem is a line of `errors`: "lua plugin 'NAME': why".
void register_lua_plugins(const std::string& dir, const Limits& limits, std::vector<std::string>* errors);

// Forgets what a state keeps for plugins no config holds any more: their
// modules and config tables, and the kong.plugins.* modules they required
// (new code loads them again). Called when a worker adopts a config.
void forget_dead_plugins(Vm& vm);

}  // namespace wg::lua

// The bundled Lua-only plugins, as Lua source kept in the binary
// (bundled_sources.cc): Kong's pre-function and post-function.
#pragma once

namespace wg::lua {

struct BundledSource {
  const char* name;
  const char* schema;   // schema.lua
  const char* handler;  // handler.lua
  int priority;         // passed to the handler chunk after the name
};

// {name, ...} entries; the list ends with a null name.
extern const BundledSource kBundledSources[];

}  // namespace wg::lua

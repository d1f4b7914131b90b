// Config values (config::Value, JSON) to Lua tables and back.
#pragma once

#include <lua.hpp>

#include "config/value.h"

namespace wg::lua {

// JSON null becomes nil in a table (an unset field reads as nil, as plugin
// code tests it), ngx.null at the top.
void push_value(lua_State* L, const config::Value& v);
// A table with 1..n and no other keys is an array; an empty table is an
// object unless as_array. Functions and userdata become null.
config::Value to_value(lua_State* L, int index, bool as_array = false);

}  // namespace wg::lua

#include "lua/convert.h"

#include <cmath>
#include <string>

namespace wg::lua {

void push_value(lua_State* L, const config::Value& v) {
  switch (v.type()) {
    case config::Value::value_t::boolean:
      lua_pushboolean(L, v.get<bool>());
      return;
    case config::Value::value_t::number_integer:
    case config::Value::value_t::number_unsigned:
    case config::Value::value_t::number_float:
      lua_pushnumber(L, v.get<double>());
      return;
    case config::Value::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case config::Value::value_t::array: {
      lua_createtable(L, static_cast<int>(v.size()), 0);
      int i = 0;
      for (const auto& e : v) {
        push_value(L, e);
        lua_rawseti(L, -2, ++i);
      }
      return;
    }
    case config::Value::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (const auto& [k, e] : v.items()) {
        if (e.is_null()) continue;
        push_value(L, e);
        lua_setfield(L, -2, k.c_str());
      }
      return;
    }
    default:
      lua_pushlightuserdata(L, nullptr);  // ngx.null
      return;
  }
}

namespace {

// The length of the table's array part when it has nothing else, else -1.
int array_length(lua_State* L, int index) {
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return -1;
    }
    ++n;
  }
  return static_cast<int>(lua_objlen(L, index)) == n ? n : -1;
}

}  // namespace

config::Value to_value(lua_State* L, int index, bool as_array) {
  if (index < 0) index = lua_gettop(L) + index + 1;
  switch (lua_type(L, index)) {
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) != 0;
    case LUA_TNUMBER: {
      double d = lua_tonumber(L, index);
      if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
      return d;
    }
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, index, &n);
      return std::string(s, n);
    }
    case LUA_TTABLE: {
      int n = array_length(L, index);
      if (n > 0 || (n == 0 && as_array)) {
        config::Value out = config::Value::array();
        for (int i = 1; i <= n; ++i) {
          lua_rawgeti(L, index, i);
          out.push_back(to_value(L, -1));
          lua_pop(L, 1);
        }
        return out;
      }
      config::Value out = config::Value::object();
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING) out[lua_tostring(L, -2)] = to_value(L, -1);
        lua_pop(L, 1);
      }
      return out;
    }
    default:
      return nullptr;
  }
}

}  // namespace wg::lua

#include "lua/schema_dsl.h"

#include <cstring>
#include <utility>

#include "lua/convert.h"
#include "lua/vm.h"

namespace wg::lua {
namespace {

namespace schema = config::schema;

int lua_absindex(int index, lua_State* L) { return index < 0 ? lua_gettop(L) + index + 1 : index; }
using schema::Field;
using schema::Type;

struct Translator {
  std::shared_ptr<LockedVm> owner;
  lua_State* L;
  std::string error;

  bool fail(const std::string& path, const std::string& why) {
    if (error.empty()) error = "field '" + path + "': " + why;
    return false;
  }

  // A registry reference to the function at `index`, kept for the life of
  // the state (schemas are loaded once per process).
  int keep(int index) {
    lua_pushvalue(L, index);
    return luaL_ref(L, LUA_REGISTRYINDEX);
  }

  // Calls the kept function with the value; nothing when it returns true,
  // else the message it returned (Kong's `return nil, err`).
  static std::optional<std::string> call(const std::shared_ptr<LockedVm>& owner, int ref, const config::Value& v,
                                         const char* fallback) {
    std::lock_guard<std::mutex> lock(owner->mu);
    Vm& vm = *owner->vm;
    lua_State* L = vm.state();
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    push_value(L, v);
    if (vm.pcall(1, 2) != 0) {
      std::string why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "error in validator";
      lua_pop(L, 1);
      return why;
    }
    std::optional<std::string> out;
    if (!lua_toboolean(L, -2)) out = lua_isstring(L, -1) ? lua_tostring(L, -1) : fallback;
    lua_pop(L, 2);
    return out;
  }

  bool type_of(const std::string& path, const char* name, Type* out) {
    static const std::pair<const char*, Type> kTypes[] = {
        {"string", Type::String}, {"number", Type::Number},   {"integer", Type::Integer}, {"boolean", Type::Boolean},
        {"array", Type::Array},   {"set", Type::Set},         {"map", Type::Map},         {"record", Type::Record},
        {"foreign", Type::Foreign}, {"json", Type::Json},
    };
    for (const auto& [n, t] : kTypes) {
      if (std::strcmp(n, name) == 0) {
        *out = t;
        return true;
      }
    }
    return fail(path, std::string("unknown type '") + name + "'");
  }

  // The field's attribute `key` pushed (nil when absent).
  int get(int index, const char* key) {
    lua_getfield(L, index, key);
    return lua_type(L, -1);
  }

  bool field(int index, const std::string& name, const std::string& path, Field* out) {
    index = lua_absindex(index, L);
    if (lua_type(L, index) != LUA_TTABLE) return fail(path, "a field is a table");
    if (get(index, "type") != LUA_TSTRING) {
      lua_pop(L, 1);
      return fail(path, "a field needs a type");
    }
    Type t = Type::String;
    bool ok = type_of(path, lua_tostring(L, -1), &t);
    lua_pop(L, 1);
    if (!ok) return false;
    *out = Field(name, t);
    if (get(index, "required") == LUA_TBOOLEAN) out->required = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    if (get(index, "default") != LUA_TNIL) out->dflt = to_value(L, -1, t == Type::Array || t == Type::Set);
    lua_pop(L, 1);
    if (get(index, "one_of") == LUA_TTABLE) {
      config::Value v = to_value(L, -1, true);
      for (auto& e : v) out->one_of.push_back(e);
    }
    lua_pop(L, 1);
    if (get(index, "between") == LUA_TTABLE) {
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      out->between = std::make_pair(lua_tonumber(L, -2), lua_tonumber(L, -1));
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (get(index, "len_min") == LUA_TNUMBER) out->len_min = static_cast<size_t>(lua_tonumber(L, -1));
    lua_pop(L, 1);
    if (get(index, "len_max") == LUA_TNUMBER) out->len_max = static_cast<size_t>(lua_tonumber(L, -1));
    lua_pop(L, 1);
    if (get(index, "starts_with") == LUA_TSTRING) out->starts_with = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (get(index, "uuid") == LUA_TBOOLEAN) out->uuid = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    if (get(index, "reference") == LUA_TSTRING) out->reference = lua_tostring(L, -1);
    lua_pop(L, 1);
    patterns(index);
    if (get(index, "custom_validator") == LUA_TFUNCTION) {
      int ref = keep(-1);
      auto owner_ref = owner;
      out->check([owner_ref, ref](const config::Value& v) { return call(owner_ref, ref, v, "invalid value"); });
    }
    lua_pop(L, 1);
    return children(index, path, out);
  }

  // match / not_match: Lua patterns, checked with string.find in the state.
  void patterns(int index) {
    for (const char* key : {"match", "not_match"}) {
      if (get(index, key) == LUA_TSTRING) {
        std::string pattern = lua_tostring(L, -1);
        bool want = std::strcmp(key, "match") == 0;
        lua_getglobal(L, "string");
        lua_getfield(L, -1, "find");
        int find = keep(-1);
        lua_pop(L, 2);
        auto owner_ref = owner;
        // Kong's message for both: "invalid value: <value>".
        pending_.push_back([owner_ref, find, pattern, want](const config::Value& v) -> std::optional<std::string> {
          if (!v.is_string()) return std::nullopt;
          std::lock_guard<std::mutex> lock(owner_ref->mu);
          lua_State* S = owner_ref->vm->state();
          lua_rawgeti(S, LUA_REGISTRYINDEX, find);
          const std::string& s = v.get_ref<const std::string&>();
          lua_pushlstring(S, s.data(), s.size());
          lua_pushlstring(S, pattern.data(), pattern.size());
          bool found = owner_ref->vm->pcall(2, 1) == 0 && !lua_isnil(S, -1);
          lua_pop(S, 1);
          if (found == want) return std::nullopt;
          return "invalid value: " + s;
        });
      } else {
        lua_pop(L, 1);
        continue;
      }
      lua_pop(L, 1);
    }
  }

  bool children(int index, const std::string& path, Field* out) {
    for (auto& c : pending_) out->check(std::move(c));
    pending_.clear();
    bool ok = true;
    if (out->type == Type::Array || out->type == Type::Set) {
      if (get(index, "elements") != LUA_TTABLE) {
        lua_pop(L, 1);
        return fail(path, "an array or a set needs elements");
      }
      Field e;
      ok = field(-1, "", path, &e);
      lua_pop(L, 1);
      if (ok) out->of(std::move(e));
    } else if (out->type == Type::Map) {
      Field k, v;
      get(index, "keys");
      ok = field(-1, "", path, &k);
      lua_pop(L, 1);
      get(index, "values");
      ok = ok && field(-1, "", path, &v);
      lua_pop(L, 1);
      if (ok) out->map_of(std::move(k), std::move(v));
    } else if (out->type == Type::Record) {
      ok = record(index, path, out);
    }
    return ok;
  }

  // A record's `fields` ({ {name = def}, ... }) and `entity_checks`.
  bool record(int index, const std::string& path, Field* out) {
    if (get(index, "fields") != LUA_TTABLE) {
      lua_pop(L, 1);
      return true;  // an empty record
    }
    int fields = lua_gettop(L);
    for (int i = 1;; ++i) {
      lua_rawgeti(L, fields, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      lua_pushnil(L);
      if (lua_next(L, -2) == 0 || lua_type(L, -2) != LUA_TSTRING) {
        lua_settop(L, fields - 1);
        return fail(path, "each entry of fields is { name = definition }");
      }
      std::string name = lua_tostring(L, -2);
      Field f;
      bool ok = field(-1, name, path.empty() ? name : path + "." + name, &f);
      lua_pop(L, 3);  // value, key, entry
      if (!ok) {
        lua_settop(L, fields - 1);
        return false;
      }
      out->fields.push_back(std::move(f));
    }
    lua_pop(L, 1);
    bool ok = true;
    if (get(index, "entity_checks") == LUA_TTABLE) ok = checks(lua_gettop(L), path, "", out->record_checks);
    lua_pop(L, 1);
    return ok;
  }

  std::vector<std::string> names(int index, const std::string& strip) {
    std::vector<std::string> out;
    if (lua_type(L, index) != LUA_TTABLE) return out;
    for (int i = 1;; ++i) {
      lua_rawgeti(L, index, i);
      if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        break;
      }
      std::string n = lua_tostring(L, -1);
      lua_pop(L, 1);
      if (!strip.empty()) {
        if (n.rfind(strip, 0) != 0) return {};
        n = n.substr(strip.size());
      }
      out.push_back(std::move(n));
    }
    return out;
  }

  schema::Match match(int index) {
    schema::Match m;
    if (lua_type(L, index) != LUA_TTABLE) return m;
    if (get(index, "one_of") == LUA_TTABLE) {
      for (auto& e : to_value(L, -1, true)) m.one_of.push_back(e);
    }
    lua_pop(L, 1);
    if (get(index, "eq") != LUA_TNIL) m.one_of.push_back(to_value(L, -1));
    lua_pop(L, 1);
    if (get(index, "required") == LUA_TBOOLEAN) m.required = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    return m;
  }

  std::string strip_name(std::string n, const std::string& strip) {
    if (!strip.empty() && n.rfind(strip, 0) == 0) return n.substr(strip.size());
    return n;
  }

  // entity_checks at `index`; `strip` ("config.") is the prefix top-level
  // checks put on config's fields (checks on other fields are skipped).
  bool checks(int index, const std::string& path, const std::string& strip, std::vector<schema::EntityCheck>& out) {
    using K = schema::EntityCheck::Kind;
    static const std::pair<const char*, K> kLists[] = {
        {"at_least_one_of", K::AtLeastOneOf},   {"only_one_of", K::OnlyOneOf},
        {"mutually_required", K::MutuallyRequired}, {"distinct", K::Distinct},
    };
    for (int i = 1;; ++i) {
      lua_rawgeti(L, index, i);
      if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return true;
      }
      int c = lua_gettop(L);
      for (const auto& [key, kind] : kLists) {
        if (get(c, key) == LUA_TTABLE) {
          schema::EntityCheck ec;
          ec.kind = kind;
          ec.fields = names(lua_gettop(L), strip);
          if (!ec.fields.empty()) out.push_back(std::move(ec));
        }
        lua_pop(L, 1);
      }
      if (get(c, "conditional") == LUA_TTABLE) conditional(lua_gettop(L), strip, out);
      lua_pop(L, 1);
      if (get(c, "conditional_at_least_one_of") == LUA_TTABLE) conditional(lua_gettop(L), strip, out);
      lua_pop(L, 1);
      if (get(c, "custom_entity_check") == LUA_TTABLE && strip.empty() && custom_check(lua_gettop(L))) {
        out.push_back(std::move(custom_));
      }
      lua_pop(L, 2);  // the custom check, the check
    }
    (void)path;
  }

  void conditional(int t, const std::string& strip, std::vector<schema::EntityCheck>& out) {
    using K = schema::EntityCheck::Kind;
    schema::EntityCheck ec;
    get(t, "if_field");
    ec.if_field = lua_isstring(L, -1) ? strip_name(lua_tostring(L, -1), strip) : "";
    lua_pop(L, 1);
    get(t, "if_match");
    ec.if_match = match(lua_gettop(L));
    lua_pop(L, 1);
    if (get(t, "then_at_least_one_of") == LUA_TTABLE) {
      ec.kind = K::ConditionalAtLeastOneOf;
      for (auto& n : names(lua_gettop(L), "")) ec.fields.push_back(strip_name(n, strip));
    } else {
      ec.kind = K::Conditional;
    }
    lua_pop(L, 1);
    get(t, "then_field");
    ec.then_field = lua_isstring(L, -1) ? strip_name(lua_tostring(L, -1), strip) : "";
    lua_pop(L, 1);
    get(t, "then_match");
    ec.then_match = match(lua_gettop(L));
    lua_pop(L, 1);
    if (get(t, "then_err") == LUA_TSTRING) ec.then_err = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (!ec.if_field.empty()) out.push_back(std::move(ec));
  }

  // custom_entity_check = { field_sources = {...}, fn = function(record) }:
  // fn gets the record; a falsy return with a message fails it at '@entity'.
  bool custom_check(int t) {
    custom_ = schema::EntityCheck();
    custom_.kind = schema::EntityCheck::Kind::Custom;
    get(t, "field_sources");
    custom_.fields = names(lua_gettop(L), "");
    lua_pop(L, 1);
    if (get(t, "fn") != LUA_TFUNCTION) {
      lua_pop(L, 1);
      return false;
    }
    int ref = keep(-1);
    lua_pop(L, 1);
    auto owner_ref = owner;
    custom_.custom = [owner_ref, ref](const config::Value& record, std::vector<std::pair<std::string, std::string>>& out) {
      if (auto why = call(owner_ref, ref, record, "invalid entity")) out.emplace_back("", *why);
    };
    return true;
  }

  std::vector<schema::Custom> pending_;
  schema::EntityCheck custom_;
};

}  // namespace

bool translate_schema(const std::shared_ptr<LockedVm>& vm, int index, PluginSchema* out, std::string* error) {
  lua_State* L = vm->vm->state();
  index = lua_absindex(index, L);
  Translator t{vm, L, {}, {}, {}};
  if (lua_type(L, index) != LUA_TTABLE) {
    *error = "schema.lua must return a table";
    return false;
  }
  out->config = Field("config", Type::Record);
  bool found = false;
  lua_getfield(L, index, "fields");
  int fields = lua_gettop(L);
  for (int i = 1; lua_type(L, fields) == LUA_TTABLE; ++i) {
    lua_rawgeti(L, fields, i);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    lua_getfield(L, -1, "config");
    if (lua_type(L, -1) == LUA_TTABLE) {
      found = t.field(-1, "config", "config", &out->config);
      if (!found) {
        *error = t.error;
        lua_settop(L, index);
        return false;
      }
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "consumer");
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, "wasmgate_no");
      out->no_consumer = lua_isstring(L, -1) && std::strcmp(lua_tostring(L, -1), "consumer") == 0;
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  if (!found) {
    *error = "schema.lua has no config record in its fields";
    return false;
  }
  lua_getfield(L, index, "entity_checks");
  if (lua_type(L, -1) == LUA_TTABLE) t.checks(lua_gettop(L), "", "config.", out->config.record_checks);
  lua_pop(L, 1);
  return true;
}

}  // namespace wg::lua

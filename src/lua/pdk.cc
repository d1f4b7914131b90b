// The C primitives under the PDK (see pdk.h): each reads or changes the
// Exchange of the call in progress. They are reached from the prelude's Lua
// as upvalue-free functions of one table, `wg`, handed to it once.
#include "lua/pdk.h"

#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string_view>

#include "config/snapshot.h"
#include "core/log.h"
#include "lua/cosocket.h"
#include "lua/invalidations.h"
#include "lua/ngx_codec.h"
#include "lua/resty_http.h"
#include "lua/shared_dict.h"
#include "lua/vm.h"
#include "lua/worker_lua.h"
#include "plugins/consumers.h"
#include "plugins/plugin.h"
#include "plugins/uri_args.h"

namespace wg::lua {

CallState& call_state() {
  static thread_local CallState state;
  return state;
}

namespace {

using pipeline::Exchange;

std::string_view arg_view(lua_State* L, int i) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, i, &n);
  return {s, n};
}

void push_view(lua_State* L, std::string_view s) { lua_pushlstring(L, s.data(), s.size()); }

// The exchange of the call in progress; a Lua error outside a request.
Exchange& exchange(lua_State* L) {
  CallState& cs = call_state();
  if (cs.x == nullptr) luaL_error(L, "no request in this context");
  return *cs.x;
}

http::HeaderMap& headers_of(lua_State* L, Exchange& x, int which) {
  if (which == 1) {
    if (!x.response_phase) luaL_error(L, "the response head is not there yet in this phase");
    return x.response_headers;
  }
  return x.request_headers;
}

// Header names as Kong's PDK takes them: Host is the request's :authority.
std::string_view map_name(int which, std::string_view name) {
  if (which == 0 && name.size() == 4 && http::to_lower(name) == "host") return ":authority";
  return name;
}

// The first value of header name (at index `name` of L's stack), or nil.
// which: 0 request, 1 response.
int get_header(lua_State* L, int which, int name) {
  Exchange& x = exchange(L);
  if (lua_type(L, name) != LUA_TSTRING) return luaL_error(L, "header name must be a string");
  // Kong's get_header returns nil (one value) for a missing header:
  // tonumber(get_header(...)) must not see zero values.
  const http::HeaderMap::Entry* e = nullptr;
  if (which == 0 || x.response_phase) e = headers_of(L, x, which).find(map_name(which, arg_view(L, name)));
  if (e == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  push_view(L, e->value);
  return 1;
}

// wg.header(which, name) -> the first value, or nil.
int l_header(lua_State* L) { return get_header(L, static_cast<int>(luaL_checkinteger(L, 1)), 2); }
// kong.request.get_header / kong.response.get_header themselves (no Lua
// wrapper: the most used PDK calls cost one C call).
int l_request_header(lua_State* L) { return get_header(L, 0, 1); }
int l_response_header(lua_State* L) { return get_header(L, 1, 1); }

// wg.headers(which) -> {lower-case name = value, or {values} when repeated}.
int l_headers(lua_State* L) {
  Exchange& x = exchange(L);
  int which = static_cast<int>(luaL_checkinteger(L, 1));
  lua_newtable(L);
  if (which == 1 && !x.response_phase) return 1;
  for (const auto& h : headers_of(L, x, which)) {
    std::string name = h.name == ":authority" ? std::string("host") : http::to_lower(h.name);
    if (name.empty() || name[0] == ':') continue;
    lua_getfield(L, -1, name.c_str());
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      push_view(L, h.value);
    } else if (lua_isstring(L, -1)) {  // a second value: both in a list
      lua_createtable(L, 2, 0);
      lua_insert(L, -2);
      lua_rawseti(L, -2, 1);
      push_view(L, h.value);
      lua_rawseti(L, -2, 2);
    } else {
      push_view(L, h.value);
      lua_rawseti(L, -2, static_cast<int>(lua_objlen(L, -2)) + 1);
    }
    lua_setfield(L, -2, name.c_str());
  }
  return 1;
}

// A header value as Kong's PDK takes it: a string, a number or a boolean.
std::string_view header_value(lua_State* L, int index, std::string_view name) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
      return arg_view(L, index);
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) ? "true" : "false";
    default:
      luaL_error(L, "invalid header value for \"%s\": got %s, expected string, number or boolean",
                 std::string(name).c_str(), luaL_typename(L, index));
      return {};
  }
}

// op 0 set, 1 add, 2 clear; name and value at those indexes of L's stack.
int change_header(lua_State* L, int which, int op, int name_index, int value_index) {
  Exchange& x = exchange(L);
  http::HeaderMap& map = headers_of(L, x, which);
  if (lua_type(L, name_index) != LUA_TSTRING) return luaL_error(L, "header name must be a string");
  std::string_view name = map_name(which, arg_view(L, name_index));
  if (op == 2) {
    map.remove(name);
    return 0;
  }
  std::string_view value = header_value(L, value_index, name);
  if (op == 0) {
    map.replace(name, value);
  } else {
    map.add(name, value);
  }
  return 0;
}

// wg.set_header(which, op, name[, value]).
int l_set_header(lua_State* L) {
  return change_header(L, static_cast<int>(luaL_checkinteger(L, 1)), static_cast<int>(luaL_checkinteger(L, 2)), 3, 4);
}
// kong.service.request.set_header / kong.response.set_header themselves.
int l_request_set_header(lua_State* L) { return change_header(L, 0, 0, 1, 2); }
int l_response_set_header(lua_State* L) { return change_header(L, 1, 0, 1, 2); }

// wg.fact(name) -> one fact of the request (see the cases).
int l_fact(lua_State* L) {
  Exchange& x = exchange(L);
  std::string_view key = arg_view(L, 1);
  auto pseudo = [&](std::string_view name) { push_view(L, x.request_headers.get_exact(name)); };
  if (key == "method") {
    push_view(L, x.method);
  } else if (key == "target") {
    pseudo(":path");
  } else if (key == "scheme") {
    pseudo(":scheme");
  } else if (key == "authority") {
    pseudo(":authority");
  } else if (key == "server_port") {
    lua_pushinteger(L, x.server_port);
  } else if (key == "client_ip") {
    push_view(L, x.client_ip);
  } else if (key == "client_port") {
    lua_pushinteger(L, x.client_port);
  } else if (key == "http_version") {
    lua_pushnumber(L, x.minor_version == 0 ? 1.0 : 1.1);
  } else if (key == "serial") {
    lua_pushnumber(L, static_cast<double>(x.serial));
  } else if (key == "upstream_uri") {
    push_view(L, x.upstream_uri);
  } else if (key == "status") {  // the response's, once there is one
    if (x.response_phase) {
      lua_pushinteger(L, std::atoi(std::string(x.response_headers.get_exact(":status")).c_str()));
    } else if (x.local_reply) {
      lua_pushinteger(L, x.local_status);
    } else {
      return 0;
    }
  } else if (key == "upstream_status") {
    if (x.log.upstream_status == 0) return 0;
    lua_pushinteger(L, x.log.upstream_status);
  } else if (key == "consumer_id") {
    if (x.consumer_id.empty()) return 0;
    push_view(L, x.consumer_id);
  } else if (key == "credential_id") {
    if (x.credential_id.empty()) return 0;
    push_view(L, x.credential_id);
  } else if (key == "request_id") {
    push_view(L, plugins::request_id(x));
  } else if (key == "start_ms") {
    lua_pushnumber(L, static_cast<double>(x.timings.start_ms));
  } else {
    return luaL_error(L, "unknown request fact '%s'", std::string(key).c_str());
  }
  return 1;
}

// wg.route() / wg.service() -> a table of the entity's fields Kong's
// kong.router.get_route / get_service give, or nil.
int l_route(lua_State* L) {
  Exchange& x = exchange(L);
  if (x.route == nullptr) return 0;
  const config::Route& r = *x.route;
  lua_createtable(L, 0, 8);
  push_view(L, r.id);
  lua_setfield(L, -2, "id");
  if (!r.name.empty()) {
    push_view(L, r.name);
    lua_setfield(L, -2, "name");
  }
  auto list = [&](const std::vector<std::string>& v, const char* field) {
    lua_createtable(L, static_cast<int>(v.size()), 0);
    for (size_t i = 0; i < v.size(); ++i) {
      push_view(L, v[i]);
      lua_rawseti(L, -2, static_cast<int>(i) + 1);
    }
    lua_setfield(L, -2, field);
  };
  list(r.paths, "paths");
  list(r.hosts, "hosts");
  list(r.methods, "methods");
  list(r.protocols, "protocols");
  list(r.tags, "tags");
  lua_pushboolean(L, r.strip_path);
  lua_setfield(L, -2, "strip_path");
  lua_pushboolean(L, r.preserve_host);
  lua_setfield(L, -2, "preserve_host");
  return 1;
}

int l_service(lua_State* L) {
  Exchange& x = exchange(L);
  if (x.service == nullptr) return 0;
  const config::Service& s = x.service->cfg;
  lua_createtable(L, 0, 8);
  push_view(L, s.id);
  lua_setfield(L, -2, "id");
  if (!s.name.empty()) {
    push_view(L, s.name);
    lua_setfield(L, -2, "name");
  }
  push_view(L, s.host);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, s.port);
  lua_setfield(L, -2, "port");
  push_view(L, s.protocol);
  lua_setfield(L, -2, "protocol");
  if (!s.path.empty()) {
    push_view(L, s.path);
    lua_setfield(L, -2, "path");
  }
  return 1;
}

// wg.set_upstream(what, value): "path", "query" (raw), "method".
int l_set_upstream(lua_State* L) {
  Exchange& x = exchange(L);
  std::string_view what = arg_view(L, 1);
  std::string_view value = arg_view(L, 2);
  if (what == "path") {
    plugins::set_upstream_path(x, value);
  } else if (what == "query") {
    plugins::set_upstream_query(x, value);
  } else if (what == "method") {
    x.method = std::string(value);
    x.request_headers.replace(":method", value);
  } else {
    return luaL_error(L, "cannot set '%s'", std::string(what).c_str());
  }
  return 0;
}

// wg.set_status(n): the response's status (header_filter).
int l_set_status(lua_State* L) {
  Exchange& x = exchange(L);
  int status = static_cast<int>(luaL_checkinteger(L, 1));
  if (status < 100 || status > 999) return luaL_error(L, "code out of range");
  if (!x.response_phase) return luaL_error(L, "the response status cannot be set in this phase");
  x.response_headers.replace(":status", std::to_string(status));
  return 0;
}

http::HeaderList header_list(lua_State* L, int index) {
  http::HeaderList out;
  if (lua_type(L, index) != LUA_TTABLE) return out;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      std::string name = lua_tostring(L, -2);
      if (lua_type(L, -1) == LUA_TTABLE) {
        for (int i = 1;; ++i) {
          lua_rawgeti(L, -1, i);
          if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
          }
          out.emplace_back(name, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
          lua_pop(L, 1);
        }
      } else if (const char* v = lua_tostring(L, -1)) {
        out.emplace_back(name, v);
      }
    }
    lua_pop(L, 1);
  }
  return out;
}

// The call stops here: the plugin answered. Only rewrite and access may.
int answered(lua_State* L) {
  call_state().exited = true;
  return lua_yield(L, 0);
}

void check_exit_phase(lua_State* L) {
  pipeline::Phase p = call_state().phase;
  if (p != pipeline::Phase::Rewrite && p != pipeline::Phase::Access) {
    luaL_error(L, "kong.response.exit and kong.response.error are only allowed in rewrite and access in this gateway");
  }
}

// wg.exit(status, body or nil, headers or nil): kong.response.exit.
int l_exit(lua_State* L) {
  Exchange& x = exchange(L);
  check_exit_phase(L);
  int status = static_cast<int>(luaL_checkinteger(L, 1));
  std::string body = lua_isstring(L, 2) ? std::string(arg_view(L, 2)) : std::string();
  plugins::exit_with(x, status, std::move(body), header_list(L, 3));
  return answered(L);
}

// wg.error(status, message or nil, headers or nil): kong.response.error.
int l_error(lua_State* L) {
  Exchange& x = exchange(L);
  check_exit_phase(L);
  int status = static_cast<int>(luaL_checkinteger(L, 1));
  std::string_view message = lua_isstring(L, 2) ? arg_view(L, 2) : std::string_view();
  plugins::exit_error(x, status, message, header_list(L, 3));
  return answered(L);
}

// wg.phase() -> Kong's name of the phase in progress ("timer" in a timer,
// "init_worker" outside any request).
int l_phase(lua_State* L) {
  static constexpr const char* kNames[] = {"rewrite", "access", "response", "header_filter", "body_filter", "log"};
  const CallState& cs = call_state();
  if (cs.timer) {
    lua_pushliteral(L, "timer");
  } else if (cs.x == nullptr) {
    lua_pushliteral(L, "init_worker");
  } else {
    lua_pushstring(L, kNames[static_cast<int>(cs.phase)]);
  }
  return 1;
}

// wg.body() -> the whole response body in Kong's response phase, else nil.
int l_body(lua_State* L) {
  Exchange& x = exchange(L);
  if (x.body == nullptr || !x.body_is_response || call_state().phase != pipeline::Phase::Response) {
    lua_pushnil(L);
    return 1;
  }
  push_view(L, *x.body);
  return 1;
}

// wg.set_body(s): replaces the whole response body (response phase).
int l_set_body(lua_State* L) {
  Exchange& x = exchange(L);
  if (x.body == nullptr || !x.body_is_response || call_state().phase != pipeline::Phase::Response) {
    return luaL_error(L, "the response body can only be replaced in the response and body_filter phases");
  }
  x.body->assign(arg_view(L, 1));
  return 0;
}

// ---- consumers (kong.client.authenticate / load_consumer).
// wg.authenticate(consumer_id or nil, credential_id or nil): the request's
// consumer and credential, as Kong's ctx.authenticated_* (no headers).
int l_authenticate(lua_State* L) {
  Exchange& x = exchange(L);
  // Lua's strings are not the config's: copied into the exchange, which
  // the ids view (Exchange::consumer_id).
  if (lua_isstring(L, 1)) {
    x.authenticated_consumer_id.assign(arg_view(L, 1));
    x.consumer_id = x.authenticated_consumer_id;
  } else {
    x.consumer_id = {};
  }
  if (lua_isstring(L, 2)) {
    x.authenticated_credential_id.assign(arg_view(L, 2));
    x.credential_id = x.authenticated_credential_id;
  } else {
    x.credential_id = {};
  }
  return 0;
}

// wg.load_consumer(id or username, by_username) -> the consumer entity or nil.
int l_load_consumer(lua_State* L) {
  const plugins::Consumers* consumers = call_state().consumers;
  std::string_view key = arg_view(L, 1);
  const config::Consumer* c = nullptr;
  if (consumers != nullptr) c = lua_toboolean(L, 2) ? consumers->by_id_or_username(key) : consumers->by_id(key);
  if (c == nullptr) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  push_view(L, c->id);
  lua_setfield(L, -2, "id");
  if (!c->username.empty()) {
    push_view(L, c->username);
    lua_setfield(L, -2, "username");
  }
  if (!c->custom_id.empty()) {
    push_view(L, c->custom_id);
    lua_setfield(L, -2, "custom_id");
  }
  lua_createtable(L, static_cast<int>(c->tags.size()), 0);
  for (size_t i = 0; i < c->tags.size(); ++i) {
    push_view(L, c->tags[i]);
    lua_rawseti(L, -2, static_cast<int>(i) + 1);
  }
  lua_setfield(L, -2, "tags");
  return 1;
}

// ---- waits and timers (lua/worker_lua).
WorkerLua& worker(lua_State* L) {
  WorkerLua* w = WorkerLua::current();
  if (w == nullptr) luaL_error(L, "this API is only available in a worker");
  return *w;
}

// wg.new_wait() -> an id for wg.wait / wg.wake.
int l_new_wait(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(worker(L).new_wait_id()));
  return 1;
}

// wg.wait(id, timeout_ms) -> true when woken, false when timed out. The
// coroutine yields: the request pauses, the worker serves others and
// resumes it (WorkerLua::run). timeout_ms 0: no timeout.
int l_wait(lua_State* L) {
  check_can_wait(L);
  worker(L);
  CallState& cs = call_state();
  cs.wait_id = static_cast<uint64_t>(luaL_checknumber(L, 1));
  lua_Number ms = luaL_optnumber(L, 2, 0);
  cs.wait_ms = ms > 0 ? static_cast<uint64_t>(ms + 0.5) : 0;
  return lua_yield(L, 0);
}

// wg.wake(id): the coroutine waiting on id resumes on the worker's next turn.
int l_wake(lua_State* L) {
  worker(L).wake(static_cast<uint64_t>(luaL_checknumber(L, 1)));
  return 0;
}

// wg.timer(delay_s, every, fn) -> true | nil, err: fn(premature) runs in a
// coroutine of its own after the delay (again every delay when every).
// Outside a worker (the config check's state) nothing is scheduled.
int l_timer(lua_State* L) {
  lua_Number delay = luaL_checknumber(L, 1);
  bool every = lua_toboolean(L, 2) != 0;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (delay < 0) return luaL_error(L, "bad argument #1 to 'at' (negative delay)");
  WorkerLua* w = WorkerLua::current();
  if (w != nullptr) {
    const std::string* plugin = call_state().plugin;
    if (!w->add_timer(L, 3, static_cast<uint64_t>(delay * 1000.0 + 0.5), every, plugin ? *plugin : std::string())) {
      lua_pushnil(L);
      lua_pushliteral(L, "too many pending timers");
      return 2;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

// ---- kong.cache's cross-worker invalidations (lua/invalidations).
int l_cache_generation(lua_State* L) {
  lua_pushnumber(L, static_cast<lua_Number>(invalidation_generation()));
  return 1;
}

// wg.cache_invalidations(since) -> {keys} | nil (too far behind: drop all).
int l_cache_invalidations(lua_State* L) {
  std::vector<std::string> keys;
  if (!invalidations_since(static_cast<uint64_t>(luaL_checknumber(L, 1)), &keys)) return 0;
  lua_createtable(L, static_cast<int>(keys.size()), 0);
  for (size_t i = 0; i < keys.size(); ++i) {
    push_view(L, keys[i]);
    lua_rawseti(L, -2, static_cast<int>(i) + 1);
  }
  return 1;
}

int l_cache_invalidate(lua_State* L) {
  invalidate_everywhere(std::string(arg_view(L, 1)));
  return 0;
}

int l_timer_count(lua_State* L) {
  WorkerLua* w = WorkerLua::current();
  lua_pushinteger(L, w != nullptr ? static_cast<lua_Integer>(w->pending_timers()) : 0);
  return 1;
}

// ---- ngx.shared.DICT over lua/shared_dict (the dictionary by index).
uint64_t monotonic_now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

int l_dict_id(lua_State* L) {
  int id = shared_dict(arg_view(L, 1));
  if (id < 0) return 0;
  lua_pushinteger(L, id);
  return 1;
}

int push_dict_value(lua_State* L, const DictValue& v) {
  switch (v.kind) {
    case DictValue::Kind::String:
      push_view(L, v.text);
      return 1;
    case DictValue::Kind::Number:
      lua_pushnumber(L, v.number);
      return 1;
    case DictValue::Kind::Boolean:
      lua_pushboolean(L, v.boolean);
      return 1;
    default:
      lua_pushnil(L);
      return 1;
  }
}

// wg.dict_get(id, key) -> value or nil
int l_dict_get(lua_State* L) {
  return push_dict_value(L, dict_get(static_cast<int>(luaL_checkinteger(L, 1)), arg_view(L, 2), monotonic_now_ms()));
}

// wg.dict_set(id, key, value, exptime, mode) -> true | false, why
int l_dict_set(lua_State* L) {
  DictValue v;
  switch (lua_type(L, 3)) {
    case LUA_TSTRING:
      v.kind = DictValue::Kind::String;
      v.text = std::string(arg_view(L, 3));
      break;
    case LUA_TNUMBER:
      v.kind = DictValue::Kind::Number;
      v.number = lua_tonumber(L, 3);
      break;
    case LUA_TBOOLEAN:
      v.kind = DictValue::Kind::Boolean;
      v.boolean = lua_toboolean(L, 3) != 0;
      break;
    case LUA_TNIL:
      break;
    default:
      return luaL_error(L, "bad value type");
  }
  double exptime = luaL_optnumber(L, 4, 0);
  uint64_t ttl_ms = exptime > 0 ? static_cast<uint64_t>(exptime * 1000.0 + 0.5) : 0;
  std::string why = dict_set(static_cast<int>(luaL_checkinteger(L, 1)), arg_view(L, 2), v, ttl_ms,
                             static_cast<int>(luaL_optinteger(L, 5, 0)), monotonic_now_ms());
  if (why.empty()) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  push_view(L, why);
  return 2;
}

// wg.dict_incr(id, key, by[, init]) -> new value | nil, why
int l_dict_incr(lua_State* L) {
  std::string why;
  bool has_init = lua_isnumber(L, 4) != 0;
  double n = dict_incr(static_cast<int>(luaL_checkinteger(L, 1)), arg_view(L, 2), luaL_checknumber(L, 3), has_init,
                       has_init ? lua_tonumber(L, 4) : 0, monotonic_now_ms(), &why);
  if (!why.empty()) {
    lua_pushnil(L);
    push_view(L, why);
    return 2;
  }
  lua_pushnumber(L, n);
  return 1;
}

int l_dict_flush(lua_State* L) {
  dict_flush_all(static_cast<int>(luaL_checkinteger(L, 1)));
  return 0;
}

// wg.log(level, message): level is nginx's (ngx.ERR = 4, ...).
int l_log(lua_State* L) {
  int level = static_cast<int>(luaL_checkinteger(L, 1));
  std::string_view msg = arg_view(L, 2);
  const std::string* plugin = call_state().plugin;
  const char* who = plugin != nullptr ? plugin->c_str() : "lua";
  int n = static_cast<int>(msg.size());
  if (level <= 4) {
    WG_LOG(Error, "[lua] %s: %.*s", who, n, msg.data());
  } else if (level == 5) {
    WG_LOG(Warn, "[lua] %s: %.*s", who, n, msg.data());
  } else if (level == 6) {
    WG_LOG(Notice, "[lua] %s: %.*s", who, n, msg.data());
  } else if (level == 7) {
    WG_LOG(Info, "[lua] %s: %.*s", who, n, msg.data());
  } else {
    WG_LOG(Debug, "[lua] %s: %.*s", who, n, msg.data());
  }
  return 0;
}

// wg.now() -> seconds since the epoch, with milliseconds (ngx.now).
int l_now(lua_State* L) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec / 1000000) / 1000.0);
  return 1;
}

// wg.decode_args(query) -> {name = value | true | {values}} (Kong's get_query).
int l_decode_args(lua_State* L) {
  plugins::Args args = plugins::decode_args(arg_view(L, 1));
  lua_newtable(L);
  for (const auto& a : args) {
    lua_getfield(L, -1, a.name.c_str());
    auto push_value = [&] {
      if (a.flag) {
        lua_pushboolean(L, 1);
      } else {
        push_view(L, a.value);
      }
    };
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      push_value();
    } else if (lua_type(L, -1) != LUA_TTABLE) {
      lua_createtable(L, 2, 0);
      lua_insert(L, -2);
      lua_rawseti(L, -2, 1);
      push_value();
      lua_rawseti(L, -2, 2);
    } else {
      push_value();
      lua_rawseti(L, -2, static_cast<int>(lua_objlen(L, -2)) + 1);
    }
    lua_setfield(L, -2, a.name.c_str());
  }
  return 1;
}

// wg.encode_args(table) -> Kong's set_query string (names sorted; a value
// true is a bare name, a list repeats the name).
int l_encode_args(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  plugins::Args args;
  auto add = [&](const std::string& name, int value_index) {
    if (lua_type(L, value_index) == LUA_TBOOLEAN) {
      if (lua_toboolean(L, value_index)) args.push_back({name, "", true});
    } else if (const char* v = lua_tostring(L, value_index)) {
      args.push_back({name, v, false});
    }
  };
  lua_pushnil(L);
  while (lua_next(L, 1) != 0) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      std::string name = lua_tostring(L, -2);
      if (lua_type(L, -1) == LUA_TTABLE) {
        for (int i = 1;; ++i) {
          lua_rawgeti(L, -1, i);
          if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
          }
          add(name, lua_gettop(L));
          lua_pop(L, 1);
        }
      } else {
        add(name, lua_gettop(L));
      }
    }
    lua_pop(L, 1);
  }
  std::string out = plugins::encode_args_sorted(args);
  push_view(L, out);
  return 1;
}

// Requests whose kong.ctx / ngx.ctx tables exist (end_request has work).
thread_local uint64_t live_contexts = 0;

int l_ctx_made(lua_State*) {
  ++live_contexts;
  return 0;
}

int l_node_id(lua_State* L) {
  push_view(L, plugins::node_id());
  return 1;
}

int l_memory_used(lua_State* L) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  lua_pushnumber(L, static_cast<double>(static_cast<Vm*>(ud)->memory_used()));
  return 1;
}

// wg.instance() -> the plugin instance of the call (kong.ctx.plugin's key).
int l_instance(lua_State* L) {
  lua_pushnumber(L, static_cast<double>(call_state().instance));
  return 1;
}

const luaL_Reg kPrimitives[] = {
    {"header", l_header},
    {"headers", l_headers},
    {"set_header", l_set_header},
    {"request_header", l_request_header},
    {"response_header", l_response_header},
    {"request_set_header", l_request_set_header},
    {"response_set_header", l_response_set_header},
    {"fact", l_fact},
    {"route", l_route},
    {"service", l_service},
    {"set_upstream", l_set_upstream},
    {"set_status", l_set_status},
    {"exit", l_exit},
    {"error", l_error},
    {"log", l_log},
    {"now", l_now},
    {"decode_args", l_decode_args},
    {"encode_args", l_encode_args},
    {"node_id", l_node_id},
    {"memory_used", l_memory_used},
    {"instance", l_instance},
    {"ctx_made", l_ctx_made},
    {"phase", l_phase},
    {"authenticate", l_authenticate},
    {"load_consumer", l_load_consumer},
    {"body", l_body},
    {"set_body", l_set_body},
    {"new_wait", l_new_wait},
    {"wait", l_wait},
    {"wake", l_wake},
    {"timer", l_timer},
    {"timer_count", l_timer_count},
    {"cache_generation", l_cache_generation},
    {"cache_invalidations", l_cache_invalidations},
    {"cache_invalidate", l_cache_invalidate},
    {"dict_id", l_dict_id},
    {"dict_get", l_dict_get},
    {"dict_set", l_dict_set},
    {"dict_incr", l_dict_incr},
    {"dict_flush", l_dict_flush},
    {nullptr, nullptr},
};

}  // namespace

void install_pdk(Vm& vm) {
  lua_State* L = vm.state();
  if (luaL_loadbuffer(L, kPrelude, std::strlen(kPrelude), "=wasmgate.pdk") != 0) {
    throw std::runtime_error(std::string("the PDK prelude does not load: ") + lua_tostring(L, -1));
  }
  lua_newtable(L);
  luaL_register(L, nullptr, kPrimitives);
  add_cosocket_primitives(L);
  add_codec_primitives(L);
  lua_pushlightuserdata(L, nullptr);
  lua_setfield(L, -2, "null");
  lua_pushlstring(L, vm.plugins_dir().data(), vm.plugins_dir().size());
  lua_setfield(L, -2, "plugins_dir");
  lua_pushvalue(L, -1);
  lua_insert(L, -3);  // wg, chunk, wg: kept for the second chunk
  if (vm.pcall(1, 1) != 0) {
    throw std::runtime_error(std::string("the PDK prelude fails: ") + lua_tostring(L, -1));
  }
  // The second chunk, with the same primitives and the hooks.
  if (luaL_loadbuffer(L, kPreludeNgx, std::strlen(kPreludeNgx), "=wasmgate.ngx") != 0) {
    throw std::runtime_error(std::string("the ngx prelude does not load: ") + lua_tostring(L, -1));
  }
  lua_pushvalue(L, -3);  // wg
  lua_pushvalue(L, -3);  // hooks (the first chunk's result)
  if (vm.pcall(2, 0) != 0) {
    throw std::runtime_error(std::string("the ngx prelude fails: ") + lua_tostring(L, -1));
  }
  // resty.http, loaded by require like lua-resty-http.
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  if (luaL_loadbuffer(L, kRestyHttp, std::strlen(kRestyHttp), "=resty.http") != 0) {
    throw std::runtime_error(std::string("resty.http does not load: ") + lua_tostring(L, -1));
  }
  lua_setfield(L, -2, "resty.http");
  lua_pop(L, 2);
  // What the prelude returns: its hooks for the C side.
  lua_getfield(L, -1, "run");
  vm.keep(Vm::kRun);
  lua_getfield(L, -1, "end_request");
  vm.keep(Vm::kEndRequest);
  lua_getfield(L, -1, "purge_cache");
  vm.keep(Vm::kPurgeCache);
  lua_pop(L, 2);  // hooks, wg
}

void end_request(Vm& vm, uint64_t serial) {
  if (live_contexts == 0) return;  // most requests: no Lua call at all
  lua_State* L = vm.state();
  vm.push_kept(Vm::kEndRequest);
  lua_pushnumber(L, static_cast<double>(serial));
  if (vm.pcall(1, 1) != 0) {
    lua_pop(L, 1);
    return;
  }
  if (lua_toboolean(L, -1)) --live_contexts;
  lua_pop(L, 1);
}

}  // namespace wg::lua

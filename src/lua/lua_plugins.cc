#include "lua/lua_plugins.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <mutex>
#include <unordered_set>
#include <fstream>
#include <sstream>

#include "lua/bundled_sources.h"
#include "lua/convert.h"
#include "lua/pdk.h"
#include "lua/schema_dsl.h"
#include "lua/worker_lua.h"
#include "core/log.h"
#include "plugins/bundled.h"

namespace wg::lua {
namespace {

using pipeline::Direction;
using pipeline::Exchange;
using pipeline::Phase;
using pipeline::Slot;
using pipeline::Verdict;

uint64_t next_id() {
  static std::atomic<uint64_t> ids{0};
  return ids.fetch_add(1, std::memory_order_relaxed) + 1;
}

// The ids of the Code and plugin instances some config snapshot still
// holds: a worker drops what its state keeps for the others when it adopts
// a config (WorkerLua::collect). Touched only when configs are built and
// dropped, never per request.
std::mutex live_mu;
std::unordered_set<uint64_t> live_ids;

struct LiveId {
  uint64_t id;
  LiveId() : id(next_id()) {
    std::lock_guard<std::mutex> lock(live_mu);
    live_ids.insert(id);
  }
  ~LiveId() {
    std::lock_guard<std::mutex> lock(live_mu);
    live_ids.erase(id);
  }
  LiveId(const LiveId&) = delete;
  LiveId& operator=(const LiveId&) = delete;
};

// One plugin's handler code as a config build read it: a reload reads the
// file again, so a changed handler.lua applies to requests of the new
// config while those of the old finish on the old code.
struct Code {
  std::string name;
  std::string chunkname;  // "@/dir/NAME/handler.lua"
  std::string source;
  int priority_arg = 0;   // bundled handlers get their PRIORITY as an argument
  LiveId live;            // live.id: the key of its module in each worker's state
};

// Runs the code's chunk in `vm` and leaves its module table on the stack;
// false with *error otherwise (nothing left on the stack).
bool load_module(Vm& vm, const Code& code, std::string* error) {
  lua_State* L = vm.state();
  if (luaL_loadbuffer(L, code.source.data(), code.source.size(), code.chunkname.c_str()) != 0) {
    *error = lua_tostring(L, -1);
    lua_pop(L, 1);
    return false;
  }
  lua_pushlstring(L, code.name.data(), code.name.size());
  lua_pushinteger(L, code.priority_arg);
  if (vm.pcall(2, 1) != 0) {
    *error = lua_tostring(L, -1);
    lua_pop(L, 1);
    return false;
  }
  if (!lua_istable(L, -1)) {
    *error = "handler.lua must return a table";
    lua_pop(L, 1);
    return false;
  }
  return true;
}

// Calls module:method(...) with the module and its `nargs` arguments on top
// of the stack, and pops them; false with *error when it raised.
bool call_method(Vm& vm, const char* method, int nargs, std::string* error) {
  lua_State* L = vm.state();
  int module = lua_gettop(L) - nargs;
  lua_getfield(L, module, method);
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 2 + nargs);
    return true;
  }
  lua_insert(L, module);  // method, module (its self), arguments
  if (vm.pcall(nargs + 1, 0) != 0) {
    *error = lua_tostring(L, -1);
    lua_pop(L, 1);
    return false;
  }
  return true;
}

constexpr const char* kPhaseMethods[] = {"rewrite", "access", "response", "header_filter", "body_filter", "log"};

class LuaPlugin final : public plugins::Plugin {
 public:
  LuaPlugin(std::shared_ptr<const Code> code, int priority, uint32_t phases, bool body_filter, config::Value conf,
            std::shared_ptr<const plugins::Consumers> consumers)
      : Plugin(code->name, priority, phases, pipeline::BodyMode::None,
               body_filter ? pipeline::BodyMode::Stream : pipeline::BodyMode::None),
        code_(std::move(code)),
        conf_(std::move(conf)),
        consumers_(std::move(consumers)) {}

  // body_filter: each piece as it comes (ngx.arg[1], ngx.arg[2] the end of
  // the body); what the plugin leaves in ngx.arg[1] goes on. A plugin that
  // sets ngx.arg[2] early ends the body there: later pieces are dropped.
  Verdict on_body(Direction d, Exchange& x, Slot& s, std::string& body, bool end_of_stream) const override {
    if (d != Direction::Response) return Verdict::Continue;
    if ((s.word & kBodyEnded) != 0) {
      body.clear();
      return Verdict::Continue;
    }
    return call(Phase::BodyFilter, x, s, &body, end_of_stream);
  }
  void on_log(Exchange& x, Slot& s) const override { call(Phase::Log, x, s, nullptr); }
  void detach(Exchange& x, Slot& s) const override {
    if (Vm* vm = Vm::current()) end_request(*vm, x.serial);
    s.state.reset();
  }
  std::string failure(const Slot& s) const override {
    return s.state ? *std::static_pointer_cast<std::string>(s.state) : std::string();
  }

 protected:
  Verdict rewrite(Exchange& x, Slot& s) const override { return call(Phase::Rewrite, x, s, nullptr); }
  Verdict access(Exchange& x, Slot& s) const override { return call(Phase::Access, x, s, nullptr); }
  // Kong's response phase: the whole upstream response is in (Exchange::body).
  Verdict response(Exchange& x, Slot& s) const override { return call(Phase::Response, x, s, nullptr); }
  Verdict header_filter(Exchange& x, Slot& s) const override { return call(Phase::HeaderFilter, x, s, nullptr); }

 private:
  static constexpr uint64_t kBodyEnded = 1;  // Slot::word: the plugin ended the body early

  Verdict fail(Slot& s, std::string why) const {
    s.state = std::make_shared<std::string>(std::move(why));
    return Verdict::Fail;
  }

  // Pushes this instance's module and config table in the worker's state,
  // loading them on first use there (init_worker, then configure).
  bool push_module_and_conf(Vm& vm, std::string* error) const {
    lua_State* L = vm.state();
    vm.push_kept(Vm::kModules);
    lua_rawgeti(L, -1, static_cast<int>(code_->live.id));
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      if (!load_module(vm, *code_, error)) {
        lua_pop(L, 1);
        return false;
      }
      lua_pushvalue(L, -1);
      if (!call_method(vm, "init_worker", 0, error)) {
        lua_pop(L, 2);
        *error = "init_worker: " + *error;
        return false;
      }
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, static_cast<int>(code_->live.id));
    }
    lua_remove(L, -2);  // the modules cache
    vm.push_kept(Vm::kConfigs);
    lua_rawgeti(L, -1, static_cast<int>(live_.id));
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      push_value(L, conf_);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, static_cast<int>(live_.id));
      // Kong's configure(configs): here once per instance and worker, with
      // that instance's config.
      lua_pushvalue(L, -3);
      lua_createtable(L, 1, 0);
      lua_pushvalue(L, -3);
      lua_rawseti(L, -2, 1);
      if (!call_method(vm, "configure", 1, error)) {
        lua_pop(L, 3);
        *error = "configure: " + *error;
        return false;
      }
    }
    lua_remove(L, -2);  // the configs cache
    return true;
  }

  Verdict call(Phase p, Exchange& x, Slot& s, std::string* body, bool eof = false) const {
    Vm* vm = Vm::current();
    if (vm == nullptr) return fail(s, "no Lua state on this thread");
    lua_State* L = vm->state();
    const int top = lua_gettop(L);
    std::string error;
    vm->push_kept(Vm::kRun);
    if (!push_module_and_conf(*vm, &error)) {
      lua_settop(L, top);
      return fail(s, error);
    }
    lua_pushinteger(L, static_cast<int>(p));  // hooks.run names the method: no string to intern per call
    lua_insert(L, -2);  // run, module, phase, conf
    int nargs = 3;
    if (body != nullptr) {
      lua_pushlstring(L, body->data(), body->size());
      lua_pushboolean(L, eof);
      nargs += 2;
    }
    Vm::Thread thread = vm->take_thread();
    lua_State* co = thread.co;
    lua_xmove(L, co, nargs + 1);
    CallState as;
    as.x = &x;
    as.phase = p;
    as.plugin = &name();
    as.instance = live_.id;
    as.consumers = consumers_.get();
    Wait wait;
    Verdict v = Verdict::Continue;
    switch (resume(*vm, co, nargs, as, &error, &wait)) {
      case Outcome::Done:
        if (body != nullptr) {  // hooks.run returned the piece to send on, and whether it ended the body
          size_t n = 0;
          const char* out = lua_isstring(co, 1) ? lua_tolstring(co, 1, &n) : "";
          body->assign(out, n);
          if (lua_toboolean(co, 2) && !eof) s.word |= kBodyEnded;
        }
        vm->give_thread(thread);
        break;
      case Outcome::Exited:
        vm->drop_thread(thread);
        v = Verdict::Respond;
        break;
      case Outcome::Waiting:
        // Only rewrite and access may wait (the primitives refuse
        // elsewhere): the request pauses until the worker resumes it.
        if (WorkerLua* worker = WorkerLua::current()) {
          worker->park(thread, wait, as);
          v = Verdict::Pause;
        } else {
          vm->drop_thread(thread);
          v = fail(s, "a Lua plugin waited outside a worker");
        }
        break;
      case Outcome::Failed:
        vm->drop_thread(thread);
        v = fail(s, std::move(error));
        break;
    }
    lua_settop(L, top);
    return v;
  }

  std::shared_ptr<const Code> code_;
  config::Value conf_;
  std::shared_ptr<const plugins::Consumers> consumers_;  // the config's (kong.client.load_consumer)
  LiveId live_;  // live_.id: the instance (its config table's key, kong.ctx.plugin's)
};

// What a plugin's files are: read again by every config build.
struct Source {
  std::string name;
  std::string handler_path;          // "" for a bundled plugin
  const BundledSource* bundled = nullptr;
};

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::shared_ptr<LockedVm> config_vm;

// Makes the handler for one validated config: the code read now, loaded in
// the config state to learn its PRIORITY and phases and to run its
// init_worker once (an error there refuses the config).
std::shared_ptr<plugins::Plugin> make_plugin(const Source& src, const config::Value& conf,
                                             std::shared_ptr<const plugins::Consumers> consumers, std::string* error) {
  auto code = std::make_shared<Code>();
  code->name = src.name;
  if (src.bundled != nullptr) {
    code->source = src.bundled->handler;
    code->chunkname = "=" + src.name + "/handler.lua";
    code->priority_arg = src.bundled->priority;
  } else {
    if (!read_file(src.handler_path, &code->source)) {
      *error = "cannot read " + src.handler_path;
      return nullptr;
    }
    code->chunkname = "@" + src.handler_path;
  }
  std::lock_guard<std::mutex> lock(config_vm->mu);
  Vm& vm = *config_vm->vm;
  lua_State* L = vm.state();
  if (!load_module(vm, *code, error)) return nullptr;
  lua_getfield(L, -1, "PRIORITY");
  if (!lua_isnumber(L, -1)) {
    lua_pop(L, 2);
    *error = "handler.lua has no PRIORITY";
    return nullptr;
  }
  int priority = static_cast<int>(lua_tointeger(L, -1));
  lua_pop(L, 1);
  uint32_t phases = 0;
  bool body_filter = false;
  for (int p = 0; p < static_cast<int>(Phase::Count); ++p) {
    const char* method = kPhaseMethods[p];
    lua_getfield(L, -1, method);
    bool has = lua_isfunction(L, -1);
    lua_pop(L, 1);
    // The function plugins run only the phases their config has code for.
    if (has && src.bundled != nullptr) has = conf.contains(method) && !conf[method].empty();
    if (!has) continue;
    if (static_cast<Phase>(p) == Phase::BodyFilter) {
      body_filter = true;
    } else {
      phases |= pipeline::phase_bit(static_cast<Phase>(p));
    }
  }
  if (!call_method(vm, "init_worker", 0, error)) {
    *error = "init_worker failed: " + *error;
    return nullptr;
  }
  return std::make_shared<LuaPlugin>(code, priority, phases, body_filter, conf, std::move(consumers));
}

// Evaluates a schema chunk in the config state and registers the plugin.
bool register_one(Source src, const char* schema_text, const std::string& chunkname, std::string* error) {
  PluginSchema schema;
  {
    std::lock_guard<std::mutex> lock(config_vm->mu);
    Vm& vm = *config_vm->vm;
    lua_State* L = vm.state();
    if (luaL_loadbuffer(L, schema_text, std::strlen(schema_text), chunkname.c_str()) != 0) {
      *error = lua_tostring(L, -1);
      lua_pop(L, 1);
      return false;
    }
    lua_pushlstring(L, src.name.data(), src.name.size());
    if (vm.pcall(1, 1) != 0) {
      *error = lua_tostring(L, -1);
      lua_pop(L, 1);
      return false;
    }
    bool ok = translate_schema(config_vm, -1, &schema, error);
    lua_pop(L, 1);
    if (!ok) return false;
  }
  plugins::PluginType type;
  type.name = src.name;
  type.config = std::move(schema.config);
  type.no_consumer = schema.no_consumer;
  type.make = [src](const config::Value& conf, const plugins::BuildContext& ctx, std::string* why) {
    return make_plugin(src, conf, ctx.consumers, why);
  };
  std::vector<plugins::PluginType> types;
  types.push_back(std::move(type));
  plugins::register_types(std::move(types));
  return true;
}

void register_dir(const std::string& dir, std::vector<std::string>* errors) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    errors->push_back("lua plugins directory '" + dir + "': cannot open it");
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    struct stat st{};
    if (stat((dir + "/" + name + "/handler.lua").c_str(), &st) == 0) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string base = dir + "/" + name;
    std::string schema_text;
    std::string error;
    if (!read_file(base + "/schema.lua", &schema_text)) {
      errors->push_back("lua plugin '" + name + "': cannot read " + base + "/schema.lua");
      continue;
    }
    if (!register_one({name, base + "/handler.lua", nullptr}, schema_text.c_str(), "@" + base + "/schema.lua", &error)) {
      errors->push_back("lua plugin '" + name + "': " + error);
    }
  }
}

// Drops the entries of the kept table k whose (numeric) keys are not live.
void drop_dead(Vm& vm, Vm::Kept k, const std::unordered_set<uint64_t>& live) {
  lua_State* L = vm.state();
  vm.push_kept(k);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    if (live.count(static_cast<uint64_t>(lua_tonumber(L, -1))) == 0) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);  // clearing a field lua_next is on is allowed
    }
  }
  lua_pop(L, 1);
}

}  // namespace

void forget_dead_plugins(Vm& vm) {
  std::unordered_set<uint64_t> live;
  {
    std::lock_guard<std::mutex> lock(live_mu);
    live = live_ids;
  }
  drop_dead(vm, Vm::kModules, live);
  drop_dead(vm, Vm::kConfigs, live);
  // Modules a plugin required (kong.plugins.NAME.*) load again for new code.
  lua_State* L = vm.state();
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING && std::strncmp(lua_tostring(L, -1), "kong.plugins.", 13) == 0) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -4);
    }
  }
  lua_pop(L, 2);
  lua_gc(L, LUA_GCCOLLECT, 0);
}

void register_lua_plugins(const std::string& dir, const Limits& limits, std::vector<std::string>* errors) {
  static std::once_flag once;
  static std::vector<std::string> first_errors;
  std::call_once(once, [&] {
    config_vm = std::make_shared<LockedVm>();
    config_vm->vm = std::make_unique<Vm>(limits, dir);
    for (const BundledSource* b = kBundledSources; b->name != nullptr; ++b) {
      std::string error;
      if (!register_one({b->name, "", b}, b->schema, std::string("=") + b->name + "/schema.lua", &error)) {
        first_errors.push_back(std::string("lua plugin '") + b->name + "': " + error);
      }
    }
    if (!dir.empty()) register_dir(dir, &first_errors);
  });
  errors->insert(errors->end(), first_errors.begin(), first_errors.end());
}

}  // namespace wg::lua

// One LuaJIT state (lua_State) with the gateway's limits: memory capped by
// its allocator, every call into Lua cut after an instruction budget by a
// count hook, the PDK (`kong`, `ngx`, `cjson`) installed, and Kong's module
// paths (`kong.plugins.NAME.*`) resolved in the Lua plugins directory.
// A state is never shared between threads: each worker owns one (made at
// worker start, reached through current()), and config checks use their own.
#pragma once

#include <lua.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace wg::lua {

struct Limits {
  uint64_t instructions = 100'000'000;  // per call into Lua (--lua-budget, in millions)
  size_t memory_bytes = 128u << 20;     // per state (--lua-memory, MiB)
};

class Vm {
 public:
  // plugins_dir: where kong.plugins.NAME.MODULE is NAME/MODULE.lua ("" none).
  Vm(const Limits& limits, std::string plugins_dir);
  ~Vm();
  Vm(const Vm&) = delete;
  Vm& operator=(const Vm&) = delete;

  lua_State* state() const { return L_; }
  const std::string& plugins_dir() const { return plugins_dir_; }
  size_t memory_used() const { return used_; }

  // Starts a new budget: the next instructions-budget instructions may run.
  void reset_budget() { remaining_ = limits_.instructions; }
  // lua_pcall with a fresh budget and a traceback appended to the error
  // message (left on the stack, as lua_pcall does).
  int pcall(int nargs, int nresults);

  // After a failed call: the error's traceback is built without the memory
  // cap (the cap is what failed), then what the call left is collected.
  void begin_recovery() { capped_ = false; }
  void end_recovery() {
    lua_gc(L_, LUA_GCCOLLECT, 0);
    capped_ = true;
  }

  // Values the C side reaches on every call, kept by integer reference
  // (a string key would be hashed each time).
  enum Kept { kRun, kEndRequest, kPurgeCache, kModules, kConfigs, kKeptCount };
  void push_kept(Kept k) const { lua_rawgeti(L_, LUA_REGISTRYINDEX, kept_[k]); }
  // Keeps the value on top of the stack (popped) as k.
  void keep(Kept k) { kept_[k] = luaL_ref(L_, LUA_REGISTRYINDEX); }

  // A coroutine, kept alive by its registry reference (never on a stack).
  struct Thread {
    lua_State* co = nullptr;
    int ref = LUA_NOREF;
  };
  // Coroutines that ran to their end are kept for the next call (a new one
  // per call costs an allocation and garbage; a LuaJIT coroutine that
  // returned can be resumed again with a new function from the C API).
  Thread take_thread();
  void give_thread(Thread t);  // one that returned
  void drop_thread(Thread t);  // one that failed, or is not needed any more

  // The worker's state (nullptr on other threads).
  static Vm* current() { return current_; }
  void make_current() { current_ = this; }

 private:
  static void* allocate(void* ud, void* ptr, size_t old_size, size_t new_size);
  static void count_hook(lua_State* L, lua_Debug* ar);

  Limits limits_;
  std::string plugins_dir_;
  size_t used_ = 0;
  uint64_t remaining_ = 0;
  bool capped_ = true;
  int kept_[kKeptCount] = {};
  std::vector<Thread> threads_;  // the pool, at most kThreadPoolSize
  lua_State* L_ = nullptr;
  static thread_local Vm* current_;
};

inline constexpr size_t kThreadPoolSize = 16;

// Instructions between two calls of the count hook.
inline constexpr int kHookEvery = 10000;

}  // namespace wg::lua

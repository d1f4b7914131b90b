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

// A worker's Lua: its state, made at worker start and current on its thread.
class WorkerLua {
 public:
  WorkerLua(const Limits& limits, const std::string& dir) : vm_(limits, dir) {}
  void make_current() {
    vm_.make_current();
    current_ = this;
  }
  static WorkerLua* current() { return current_; }
  Vm& vm() { return vm_; }
  // After a new config: forgets the modules and config tables of plugins
  // no config holds any more (requests still on them load them again).
  void collect();

  // A coroutine in ngx.sleep: its request waits paused (Verdict::Pause)
  // until run() resumes it.
  struct Sleeper {
    uint64_t due_ms = 0;  // CLOCK_MONOTONIC
    pipeline::ResumeHandle handle;
    int thread_ref = 0;   // the coroutine, kept in the registry
    pipeline::Phase phase = pipeline::Phase::Access;
    const std::string* plugin = nullptr;  // alive with the request's snapshot
    uint64_t instance = 0;
  };
  void sleep(Sleeper s) { sleepers_.push_back(s); }
  // Resumes the coroutines whose sleep is over (every loop turn); returns
  // how long the loop may wait, at most max_wait_ms.
  uint64_t run(uint64_t max_wait_ms);

 private:
  void wake(const Sleeper& s);

  Vm vm_;
  std::vector<Sleeper> sleepers_;
  static thread_local WorkerLua* current_;
};

}  // namespace wg::lua

// A worker's Lua: its state, and everything that makes Lua code wait
// without blocking the worker. A coroutine that must wait (ngx.sleep, a
// cosocket that would block, a kong.cache loader another request is
// running, a name being resolved) yields naming a wait id and a timeout;
// the worker parks it here and resumes it from its loop (run()) when the
// id is woken or the time is over. A request whose coroutine waits is
// paused in the pipeline (Verdict::Pause) and resumed through its
// ResumeHandle when the coroutine finishes. Timers (ngx.timer.at/every)
// are coroutines with no request, started here too.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lua/pdk.h"
#include "lua/vm.h"
#include "pipeline/exchange.h"

namespace wg::core {
class EventLoop;
}
namespace wg::client {
class NameResolver;
}

namespace wg::lua {

// How one resume of a coroutine ended.
enum class Outcome { Done, Exited, Waiting, Failed };

// What a yielding coroutine waits for: wake(id), or timeout_ms (0: none).
struct Wait {
  uint64_t id = 0;
  uint64_t timeout_ms = 0;
};

// Resumes `co` with nargs arguments on its stack, as the call `as`; *error
// gets the message and traceback of a failure, *wait what it waits for.
Outcome resume(Vm& vm, lua_State* co, int nargs, const CallState& as, std::string* error, Wait* wait);

uint64_t monotonic_ms();

class WorkerLua {
 public:
  // loop and names: the worker's (nullptr in unit tests: no cosockets).
  WorkerLua(const Limits& limits, const std::string& dir, core::EventLoop* loop = nullptr,
            client::NameResolver* names = nullptr)
      : vm_(limits, dir), loop_(loop), names_(names) {}
  ~WorkerLua();
  WorkerLua(const WorkerLua&) = delete;
  WorkerLua& operator=(const WorkerLua&) = delete;

  void make_current() {
    vm_.make_current();
    current_ = this;
  }
  static WorkerLua* current() { return current_; }
  Vm& vm() { return vm_; }
  core::EventLoop* loop() const { return loop_; }
  client::NameResolver* names() const { return names_; }

  // After a new config: pending timers run once more as premature (as
  // nginx's do when a reload ends their worker), kong.cache is purged, and
  // the modules and config tables of plugins no config holds any more are
  // forgotten (requests still on them load them again).
  void collect();

  // ---- waits
  uint64_t new_wait_id() { return ++last_wait_id_; }
  // The coroutine t waits for w, as the call `cs` (a request's, or a
  // timer's when cs.x is nullptr); the wait owns t from now on.
  void park(Vm::Thread t, const Wait& w, const CallState& cs);
  // The wait `id` is over: its coroutine resumes (with true) on the next
  // run(). Unknown ids (timed out, request gone) are ignored.
  void wake(uint64_t id);
  // A name resolved for wait `id` (the resolver's completion): kept until
  // the woken coroutine takes it.
  void set_resolved(uint64_t id, std::string address) { resolved_[id] = std::move(address); }
  bool take_resolved(uint64_t id, std::string* address);

  // ---- timers
  static constexpr size_t kMaxPendingTimers = 1024;  // lua_max_pending_timers' default
  // Runs the function at `index` of L's stack (the calling coroutine's)
  // after delay_ms (and every delay_ms after that when `every`); false past
  // kMaxPendingTimers.
  bool add_timer(lua_State* L, int index, uint64_t delay_ms, bool every, const std::string& plugin);
  size_t pending_timers() const { return timers_.size(); }
  // Runs every pending timer now with premature = true and forgets them.
  void expire_timers();

  // Resumes what is due: woken waits, waits past their timeout, timers.
  // Returns how long the loop may sleep, at most max_wait_ms. Inline: it
  // runs on every loop turn, and almost always has nothing to do.
  uint64_t run(uint64_t max_wait_ms) {
    if (waiters_.empty() && timers_.empty()) return max_wait_ms;
    return run_due(max_wait_ms);
  }

 private:
  uint64_t run_due(uint64_t max_wait_ms);
  // A parked coroutine and the call it belongs to.
  struct Waiter {
    uint64_t due_ms = UINT64_MAX;  // CLOCK_MONOTONIC; UINT64_MAX: no timeout
    Vm::Thread thread;
    bool timer = false;            // a timer's coroutine (no request)
    pipeline::ResumeHandle handle;
    pipeline::Phase phase = pipeline::Phase::Access;
    std::string plugin;  // for log lines and kong.log
    uint64_t instance = 0;
    const plugins::Consumers* consumers = nullptr;  // alive with the request's snapshot
  };
  struct Timer {
    uint64_t due_ms = 0;
    uint64_t every_ms = 0;  // 0: once
    int fn_ref = 0;
    std::string plugin;
  };
  void resume_waiter(Waiter w, bool woken);
  void start_timer(const Timer& t, bool premature);
  void after_resume(Outcome o, Vm::Thread t, const Waiter& w, const Wait& wait, const std::string& error);

  Vm vm_;
  core::EventLoop* loop_;
  client::NameResolver* names_;
  uint64_t last_wait_id_ = 0;
  std::unordered_map<uint64_t, Waiter> waiters_;
  std::vector<uint64_t> woken_;
  std::unordered_map<uint64_t, std::string> resolved_;
  std::vector<Timer> timers_;
  static thread_local WorkerLua* current_;
};

}  // namespace wg::lua

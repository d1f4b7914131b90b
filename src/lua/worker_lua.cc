#include "lua/worker_lua.h"

#include <algorithm>
#include <ctime>

#include "core/log.h"
#include "lua/cosocket.h"
#include "lua/lua_plugins.h"
#include "plugins/plugin.h"

namespace wg::lua {

using pipeline::Direction;
using pipeline::Exchange;

uint64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

Outcome resume(Vm& vm, lua_State* co, int nargs, const CallState& as, std::string* error, Wait* wait) {
  CallState& cs = call_state();
  CallState saved = cs;
  cs = as;
  cs.exited = false;
  cs.wait_id = 0;
  cs.wait_ms = 0;
  vm.reset_budget();
  int rc = lua_resume(co, nargs);
  const CallState after = cs;
  cs = saved;
  if (rc == 0) return Outcome::Done;
  if (rc == LUA_YIELD) {
    if (after.exited) return Outcome::Exited;
    if (after.wait_id != 0) {
      *wait = Wait{after.wait_id, after.wait_ms};
      return Outcome::Waiting;
    }
    lua_settop(co, 0);
    *error = "coroutine.yield() outside a coroutine the plugin made is not supported by this gateway";
    return Outcome::Failed;
  }
  lua_State* L = vm.state();
  vm.begin_recovery();
  const char* msg = lua_tostring(co, -1);
  luaL_traceback(L, co, msg != nullptr ? msg : "(error object is not a string)", 0);
  *error = lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_settop(co, 0);
  vm.end_recovery();
  return Outcome::Failed;
}

thread_local WorkerLua* WorkerLua::current_ = nullptr;

WorkerLua::~WorkerLua() {
  if (current_ == this) current_ = nullptr;
  close_idle_sockets();
}

void WorkerLua::collect() {
  expire_timers();
  lua_State* L = vm_.state();
  vm_.push_kept(Vm::kPurgeCache);
  if (vm_.pcall(0, 0) != 0) lua_pop(L, 1);
  forget_dead_plugins(vm_);
}

void WorkerLua::park(Vm::Thread t, const Wait& w, const CallState& cs) {
  Waiter waiter;
  waiter.due_ms = w.timeout_ms > 0 ? monotonic_ms() + w.timeout_ms : UINT64_MAX;
  waiter.thread = t;
  waiter.timer = cs.timer;
  if (cs.x != nullptr) waiter.handle = pipeline::ResumeHandle(*cs.x);
  waiter.phase = cs.phase;
  if (cs.plugin != nullptr) waiter.plugin = *cs.plugin;
  waiter.instance = cs.instance;
  waiter.consumers = cs.consumers;
  waiters_[w.id] = std::move(waiter);
}

void WorkerLua::wake(uint64_t id) {
  if (waiters_.count(id) != 0) woken_.push_back(id);
}

bool WorkerLua::take_resolved(uint64_t id, std::string* address) {
  auto it = resolved_.find(id);
  if (it == resolved_.end()) return false;
  *address = std::move(it->second);
  resolved_.erase(it);
  return true;
}

bool WorkerLua::add_timer(lua_State* L, int index, uint64_t delay_ms, bool every, const std::string& plugin) {
  if (timers_.size() >= kMaxPendingTimers) return false;
  lua_pushvalue(L, index);
  Timer t;
  t.fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  t.due_ms = monotonic_ms() + delay_ms;
  t.every_ms = every ? std::max<uint64_t>(delay_ms, 1) : 0;
  t.plugin = plugin;
  timers_.push_back(std::move(t));
  return true;
}

void WorkerLua::expire_timers() {
  std::vector<Timer> pending;
  pending.swap(timers_);
  for (const Timer& t : pending) {
    start_timer(t, true);
    luaL_unref(vm_.state(), LUA_REGISTRYINDEX, t.fn_ref);
  }
  // A premature handler that made new timers: they are not run again.
  for (const Timer& t : timers_) luaL_unref(vm_.state(), LUA_REGISTRYINDEX, t.fn_ref);
  timers_.clear();
}

// Runs a timer's function in a coroutine of its own: fn(premature).
void WorkerLua::start_timer(const Timer& t, bool premature) {
  Vm::Thread thread = vm_.take_thread();
  lua_State* co = thread.co;
  lua_rawgeti(co, LUA_REGISTRYINDEX, t.fn_ref);
  lua_pushboolean(co, premature);
  CallState cs;
  cs.timer = true;
  cs.plugin = &t.plugin;
  std::string error;
  Wait wait;
  Waiter w;
  w.timer = true;
  w.plugin = t.plugin;
  after_resume(resume(vm_, co, 1, cs, &error, &wait), thread, w, wait, error);
}

void WorkerLua::resume_waiter(Waiter w, bool woken) {
  lua_State* co = w.thread.co;
  Exchange* x = w.timer ? nullptr : w.handle.exchange();
  if (!w.timer && x == nullptr) {  // the request ended meanwhile
    vm_.drop_thread(w.thread);
    return;
  }
  CallState cs;
  cs.x = x;
  cs.phase = w.phase;
  cs.plugin = &w.plugin;
  cs.instance = w.instance;
  cs.consumers = w.consumers;
  cs.timer = w.timer;
  lua_pushboolean(co, woken);
  std::string error;
  Wait wait;
  after_resume(resume(vm_, co, 1, cs, &error, &wait), w.thread, w, wait, error);
}

// What a resumed coroutine asks for next.
void WorkerLua::after_resume(Outcome o, Vm::Thread t, const Waiter& w, const Wait& wait, const std::string& error) {
  Exchange* x = w.timer ? nullptr : w.handle.exchange();
  if (o != Outcome::Waiting && o != Outcome::Done) vm_.drop_thread(t);
  switch (o) {
    case Outcome::Done:
      vm_.give_thread(t);
      // Rewrite and access pause the request's side; Kong's response phase
      // (the whole response) the response's.
      if (x != nullptr) {
        const bool request_side = w.phase == pipeline::Phase::Rewrite || w.phase == pipeline::Phase::Access;
        w.handle.resume(request_side ? Direction::Request : Direction::Response);
      }
      break;
    case Outcome::Exited:
      if (x != nullptr) x->wake();
      break;
    case Outcome::Waiting: {
      CallState cs;
      cs.x = x;
      cs.phase = w.phase;
      cs.plugin = &w.plugin;
      cs.instance = w.instance;
      cs.consumers = w.consumers;
      cs.timer = w.timer;
      park(t, wait, cs);
      break;
    }
    case Outcome::Failed:
      if (x == nullptr) {
        WG_LOG(Error, "lua timer of %s failed: %s", w.plugin.empty() ? "lua" : w.plugin.c_str(), error.c_str());
        break;
      }
      // Outside the runner's call: logged here as the runner would, and
      // answered with the same 500.
      WG_LOG(Error, "plugin %s failed this request: %s", w.plugin.c_str(), error.c_str());
      plugins::exit_json(*x, 500, "An unexpected error occurred");
      x->wake();
      break;
  }
}

uint64_t WorkerLua::run_due(uint64_t max_wait_ms) {
  const uint64_t now = monotonic_ms();
  // What is due now is collected first: a coroutine that waits again, or a
  // timer that re-arms, waits for a later turn (a loop of ngx.sleep(0)
  // cannot hold the worker).
  std::vector<std::pair<Waiter, bool>> due;
  for (uint64_t id : woken_) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;
    due.emplace_back(std::move(it->second), true);
    waiters_.erase(it);
  }
  woken_.clear();
  uint64_t wait = max_wait_ms;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.due_ms <= now) {
      due.emplace_back(std::move(it->second), false);
      it = waiters_.erase(it);
    } else {
      if (it->second.due_ms != UINT64_MAX) wait = std::min(wait, it->second.due_ms - now);
      ++it;
    }
  }
  std::vector<Timer> fire;
  for (size_t i = 0; i < timers_.size();) {
    if (timers_[i].due_ms <= now) {
      fire.push_back(timers_[i]);
      timers_[i] = timers_.back();
      timers_.pop_back();
    } else {
      wait = std::min(wait, timers_[i].due_ms - now);
      ++i;
    }
  }
  for (auto& [w, woken] : due) resume_waiter(std::move(w), woken);
  for (Timer& t : fire) {
    start_timer(t, false);
    if (t.every_ms > 0) {
      t.due_ms = monotonic_ms() + t.every_ms;
      timers_.push_back(t);
    } else {
      luaL_unref(vm_.state(), LUA_REGISTRYINDEX, t.fn_ref);
    }
  }
  if (!woken_.empty()) return 0;
  if (!due.empty() || !fire.empty()) wait = std::min<uint64_t>(wait, 1);
  return wait;
}

}  // namespace wg::lua

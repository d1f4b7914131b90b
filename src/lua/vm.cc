#include "lua/vm.h"

#include <cstdlib>
#include <stdexcept>

#include "lua/pdk.h"

namespace wg::lua {

thread_local Vm* Vm::current_ = nullptr;

void* Vm::allocate(void* ud, void* ptr, size_t old_size, size_t new_size) {
  Vm* vm = static_cast<Vm*>(ud);
  if (ptr == nullptr) old_size = 0;
  if (new_size == 0) {
    std::free(ptr);
    vm->used_ -= old_size;
    return nullptr;
  }
  // Over the cap, Lua raises "not enough memory" in the call that asked:
  // that request fails, the state and the worker go on.
  if (new_size > old_size && vm->capped_ && vm->used_ - old_size + new_size > vm->limits_.memory_bytes) return nullptr;
  void* p = std::realloc(ptr, new_size);
  if (p != nullptr) vm->used_ = vm->used_ - old_size + new_size;
  return p;
}

void Vm::count_hook(lua_State* L, lua_Debug*) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  Vm* vm = static_cast<Vm*>(ud);
  if (vm->remaining_ > static_cast<uint64_t>(kHookEvery)) {
    vm->remaining_ -= kHookEvery;
    return;
  }
  vm->remaining_ = kHookEvery * 10;  // room for the error handler's traceback
  luaL_error(L, "instruction budget exceeded (--lua-budget)");
}

Vm::Vm(const Limits& limits, std::string plugins_dir) : limits_(limits), plugins_dir_(std::move(plugins_dir)) {
  L_ = lua_newstate(&Vm::allocate, this);
  if (L_ == nullptr) throw std::runtime_error("cannot create a Lua state");
  luaL_openlibs(L_);
  // The count hook only runs in LuaJIT's interpreter, never in compiled
  // traces: without this an endless loop, once compiled, could not be cut.
  luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  lua_sethook(L_, &Vm::count_hook, LUA_MASKCOUNT, kHookEvery);
  reset_budget();
  for (Kept k : {kModules, kConfigs}) {
    lua_newtable(L_);
    keep(k);
  }
  install_pdk(*this);
}

Vm::~Vm() {
  if (current_ == this) current_ = nullptr;
  if (L_ != nullptr) lua_close(L_);
}

Vm::Thread Vm::take_thread() {
  if (!threads_.empty()) {
    Thread t = threads_.back();
    threads_.pop_back();
    return t;
  }
  Thread t;
  t.co = lua_newthread(L_);
  t.ref = luaL_ref(L_, LUA_REGISTRYINDEX);
  return t;
}

void Vm::give_thread(Thread t) {
  lua_settop(t.co, 0);
  if (threads_.size() < kThreadPoolSize) {
    threads_.push_back(t);
  } else {
    drop_thread(t);
  }
}

void Vm::drop_thread(Thread t) { luaL_unref(L_, LUA_REGISTRYINDEX, t.ref); }

namespace {

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg != nullptr ? msg : "(error object is not a string)", 1);
  return 1;
}

}  // namespace

int Vm::pcall(int nargs, int nresults) {
  int base = lua_gettop(L_) - nargs;
  lua_pushcfunction(L_, traceback);
  lua_insert(L_, base);
  reset_budget();
  int rc = lua_pcall(L_, nargs, nresults, base);
  lua_remove(L_, base);
  return rc;
}

}  // namespace wg::lua

#include "wasm/engine.h"

#include <sys/stat.h>
#include <wasmtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace wg::wasm {
namespace {

std::string take_error(wasmtime_error_t* err) {
  wasm_byte_vec_t msg;
  wasmtime_error_message(err, &msg);
  std::string out(msg.data, msg.size);
  wasm_byte_vec_delete(&msg);
  wasmtime_error_delete(err);
  return out;
}

std::string take_trap(wasm_trap_t* trap, bool* interrupted) {
  wasmtime_trap_code_t code;
  *interrupted = wasmtime_trap_code(trap, &code) && code == WASMTIME_TRAP_CODE_INTERRUPT;
  wasm_byte_vec_t msg;
  wasm_trap_message(trap, &msg);
  std::string out(msg.data, msg.size);
  wasm_byte_vec_delete(&msg);
  wasm_trap_delete(trap);
  return out;
}

// Stable across runs (std::hash is not): FNV-1a 64, hex.
std::string hash_hex(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf) + "-" + std::to_string(bytes.size());
}

wasm_valtype_vec_t valtypes(const std::string& sig) {
  wasm_valtype_vec_t vec;
  wasm_valtype_vec_new_uninitialized(&vec, sig.size());
  for (size_t i = 0; i < sig.size(); ++i) vec.data[i] = wasm_valtype_new(sig[i] == 'I' ? WASM_I64 : WASM_I32);
  return vec;
}

// Counts the ticker's epoch increments, twice each (odd while one is under
// way): a VM whose deadline was set at the same even count would set the
// same deadline again, and skips the call into Wasmtime.
std::atomic<uint64_t> g_epoch_seq{0};

}  // namespace

// What a host function's env pointer carries.
static_assert(std::endian::native == std::endian::little, "guest values are read and written as little-endian");

struct Trampoline {
  Vm* vm;
  void* host;
  HostCallback callback;
  uint32_t nparams = 0;
  uint32_t nresults = 0;
  uint32_t i64_params = 0;   // bit i: parameter i is an i64 (else i32)
  uint32_t i64_results = 0;

  // The unchecked form: Wasmtime has checked the import's type at link
  // time, so values come raw (no per-call type checks or conversions).
  // Parameters are read from args_and_results, results overwrite it.
  static wasm_trap_t* invoke(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* raw, size_t nraw) {
    auto* t = static_cast<Trampoline*>(env);
    uint64_t in[16];
    const size_t nargs = std::min<size_t>({t->nparams, 16, nraw});
    for (size_t i = 0; i < nargs; ++i) {
      in[i] = (t->i64_params >> i) & 1 ? static_cast<uint64_t>(raw[i].i64)
                                       : static_cast<uint64_t>(static_cast<uint32_t>(raw[i].i32));
    }
    return run(t, caller, in, raw, nraw);
  }

  // Most host functions take only i32s: the same with the parameter count
  // known at compile time (no per-parameter type test, no loop).
  template <size_t... I>
  static wasm_trap_t* invoke_i32(void* env, wasmtime_caller_t* caller, wasmtime_val_raw_t* raw, size_t nraw) {
    const uint64_t in[sizeof...(I) + 1] = {static_cast<uint32_t>(raw[I].i32)..., 0};
    return run(static_cast<Trampoline*>(env), caller, in, raw, nraw);
  }

  static wasm_trap_t* run(Trampoline* t, wasmtime_caller_t* caller, const uint64_t* in, wasmtime_val_raw_t* raw,
                          size_t nraw) {
    uint64_t out[4] = {0};
    // Inside a host call only the caller's context may touch the store.
    Vm& vm = *t->vm;
    void* saved = vm.context_;
    vm.context_ = wasmtime_caller_context(caller);
    bool ok = t->callback(t->host, vm, in, out, &vm.trap_message_);
    vm.context_ = saved;
    if (!ok) {
      wasm_trap_t* trap = wasmtime_trap_new(vm.trap_message_.data(), vm.trap_message_.size());
      vm.trap_message_.clear();
      return trap;
    }
    if (t->nresults == 1 && t->i64_results == 0) {  // the common "returns a status"
      raw[0].i32 = static_cast<int32_t>(static_cast<uint32_t>(out[0]));
      return nullptr;
    }
    const size_t nresults = std::min<size_t>({t->nresults, 4, nraw});
    for (size_t i = 0; i < nresults; ++i) {
      if ((t->i64_results >> i) & 1) {
        raw[i].i64 = static_cast<int64_t>(out[i]);
      } else {
        raw[i].i32 = static_cast<int32_t>(static_cast<uint32_t>(out[i]));
      }
    }
    return nullptr;
  }

  using Invoke = wasm_trap_t* (*)(void*, wasmtime_caller_t*, wasmtime_val_raw_t*, size_t);
  static constexpr size_t kMaxI32Params = 12;
  template <size_t N>
  static constexpr Invoke i32_entry() {
    return []<size_t... I>(std::index_sequence<I...>) { return &invoke_i32<I...>; }(std::make_index_sequence<N>());
  }
  template <size_t... N>
  static constexpr std::array<Invoke, sizeof...(N)> i32_table(std::index_sequence<N...>) {
    return {i32_entry<N>()...};
  }
  Invoke entry() const {
    static constexpr auto kI32 = i32_table(std::make_index_sequence<kMaxI32Params + 1>());
    return i64_params == 0 && nparams <= kMaxI32Params ? kI32[nparams] : &invoke;
  }
};

Module::~Module() {
  if (module_ != nullptr) wasmtime_module_delete(static_cast<wasmtime_module_t*>(module_));
}

// Asked before every callback: exports_ is sorted, so this is a binary search.
bool Module::exports_function(std::string_view name) const {
  auto it = std::lower_bound(exports_.begin(), exports_.end(), name,
                             [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it != exports_.end() && *it == name;
}

bool Module::imports_function(std::string_view name) const {
  auto it = std::lower_bound(imports_.begin(), imports_.end(), name,
                             [](const std::string& a, std::string_view b) { return std::string_view(a) < b; });
  return it != imports_.end() && *it == name;
}

Engine& Engine::instance() {
  static Engine e;
  return e;
}

Engine::Engine() {
  wasm_config_t* config = wasm_config_new();
  // Runaway guests are cut by epoch interruption: a ticker advances the
  // epoch and every call gets a deadline in ticks.
  wasmtime_config_epoch_interruption_set(config, true);
  // A linear memory stays where it was first mapped (growth happens in its
  // 4 GiB reservation), so a VM keeps its memory's base address for good
  // instead of asking for it on every host call.
  wasmtime_config_memory_may_move_set(config, false);
  engine_ = wasm_engine_new_with_config(config);
  auto* engine = static_cast<wasm_engine_t*>(engine_);
  std::thread([engine, tick = tick_ms()] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(tick));
      g_epoch_seq.fetch_add(1, std::memory_order_release);  // odd: the epoch is moving
      wasmtime_engine_increment_epoch(engine);
      g_epoch_seq.fetch_add(1, std::memory_order_release);
    }
  }).detach();
}

std::shared_ptr<const Module> Engine::compile(const std::string& name, const std::string& bytes,
                                              const std::string& cache_dir, std::string* error) {
  auto* engine = static_cast<wasm_engine_t*>(engine_);
  auto mod = std::shared_ptr<Module>(new Module());
  mod->name_ = name;
  std::string wasm = bytes;
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "\0asm", 4) != 0) {
    wasm_byte_vec_t out;
    if (wasmtime_error_t* err = wasmtime_wat2wasm(bytes.data(), bytes.size(), &out)) {
      *error = "invalid module: " + take_error(err);
      return nullptr;
    }
    wasm.assign(out.data, out.size);
    wasm_byte_vec_delete(&out);
  }
  mod->hash_ = hash_hex(wasm);
  wasmtime_module_t* m = nullptr;
  std::string cached = cache_dir.empty() ? "" : cache_dir + "/" + mod->hash_ + ".cwasm";
  if (!cached.empty()) {
    struct stat st;
    // A stale or foreign file fails to deserialize: then compile afresh.
    if (stat(cached.c_str(), &st) == 0) {
      if (wasmtime_error_t* err = wasmtime_module_deserialize_file(engine, cached.c_str(), &m)) {
        wasmtime_error_delete(err);
        m = nullptr;
      }
    }
  }
  if (m == nullptr) {
    if (wasmtime_error_t* err =
            wasmtime_module_new(engine, reinterpret_cast<const uint8_t*>(wasm.data()), wasm.size(), &m)) {
      *error = "invalid module: " + take_error(err);
      return nullptr;
    }
    if (!cached.empty()) {
      wasm_byte_vec_t ser;
      if (wasmtime_error_t* err = wasmtime_module_serialize(m, &ser)) {
        wasmtime_error_delete(err);
      } else {
        mkdir(cache_dir.c_str(), 0755);
        std::string tmp = cached + ".tmp";
        std::ofstream(tmp, std::ios::binary).write(ser.data, static_cast<std::streamsize>(ser.size));
        rename(tmp.c_str(), cached.c_str());  // atomic: another process may read it
        wasm_byte_vec_delete(&ser);
      }
    }
  }
  mod->module_ = m;
  wasm_exporttype_vec_t exports;
  wasmtime_module_exports(m, &exports);
  for (size_t i = 0; i < exports.size; ++i) {
    const wasm_name_t* n = wasm_exporttype_name(exports.data[i]);
    mod->exports_.emplace_back(n->data, n->size);
  }
  wasm_exporttype_vec_delete(&exports);
  std::sort(mod->exports_.begin(), mod->exports_.end());
  wasm_importtype_vec_t imports;
  wasmtime_module_imports(m, &imports);
  for (size_t i = 0; i < imports.size; ++i) {
    const wasm_name_t* n = wasm_importtype_name(imports.data[i]);
    mod->imports_.emplace_back(n->data, n->size);
  }
  wasm_importtype_vec_delete(&imports);
  std::sort(mod->imports_.begin(), mod->imports_.end());
  return mod;
}

std::unique_ptr<Vm> Vm::create(std::shared_ptr<const Module> module, const std::vector<HostFunc>& funcs,
                               void* host, const Limits& limits, std::string* error) {
  auto vm = std::unique_ptr<Vm>(new Vm());
  vm->module_ = module;
  vm->limits_ = limits;
  auto* engine = static_cast<wasm_engine_t*>(Engine::instance().raw());
  wasmtime_store_t* store = wasmtime_store_new(engine, vm.get(), nullptr);
  vm->store_ = store;
  wasmtime_context_t* ctx = wasmtime_store_context(store);
  vm->context_ = ctx;
  vm->store_context_ = ctx;
  vm->budget_ticks_ = limits.call_budget_ms / Engine::instance().tick_ms() + 1;
  wasmtime_store_limiter(store, static_cast<int64_t>(limits.max_memory_bytes), -1, -1, -1, -1);
  wasmtime_linker_t* linker = wasmtime_linker_new(engine);
  vm->linker_ = linker;
  for (const auto& f : funcs) {
    auto t = std::make_unique<Trampoline>();
    t->vm = vm.get();
    t->host = host;
    t->callback = f.callback;
    t->nparams = static_cast<uint32_t>(f.params.size());
    t->nresults = static_cast<uint32_t>(f.results.size());
    for (size_t i = 0; i < f.params.size() && i < 32; ++i) t->i64_params |= (f.params[i] == 'I' ? 1u : 0u) << i;
    for (size_t i = 0; i < f.results.size() && i < 32; ++i) t->i64_results |= (f.results[i] == 'I' ? 1u : 0u) << i;
    wasm_valtype_vec_t params = valtypes(f.params);
    wasm_valtype_vec_t results = valtypes(f.results);
    wasm_functype_t* type = wasm_functype_new(&params, &results);
    wasmtime_error_t* err =
        wasmtime_linker_define_func_unchecked(linker, f.module.data(), f.module.size(), f.name.data(), f.name.size(),
                                              type, t->entry(), t.get(), nullptr);
    wasm_functype_delete(type);
    if (err != nullptr) {
      *error = take_error(err);
      return nullptr;
    }
    vm->trampolines_.push_back(std::move(t));
  }
  auto* m = static_cast<const wasmtime_module_t*>(module->module_);
  if (wasmtime_error_t* err = wasmtime_linker_define_unknown_imports_as_traps(linker, m)) {
    *error = take_error(err);
    return nullptr;
  }
  // Instantiation runs the start section (AssemblyScript): give it a budget.
  wasmtime_context_set_epoch_deadline(ctx, vm->budget_ticks_);
  auto* instance = new wasmtime_instance_t;
  vm->instance_ = instance;
  wasm_trap_t* trap = nullptr;
  if (wasmtime_error_t* err = wasmtime_linker_instantiate(linker, ctx, m, instance, &trap)) {
    *error = take_error(err);
    return nullptr;
  }
  if (trap != nullptr) {
    bool interrupted = false;
    *error = take_trap(trap, &interrupted);
    return nullptr;
  }
  wasmtime_extern_t item;
  if (wasmtime_instance_export_get(ctx, instance, "memory", 6, &item) && item.kind == WASMTIME_EXTERN_MEMORY) {
    vm->memory_ = new wasmtime_memory_t(item.of.memory);
    vm->mem_size_ = wasmtime_memory_data_size(ctx, static_cast<wasmtime_memory_t*>(vm->memory_));
    vm->mem_base_ = wasmtime_memory_data(ctx, static_cast<wasmtime_memory_t*>(vm->memory_));
    if (vm->mem_base_ == nullptr) vm->mem_size_ = 0;
  }
  return vm;
}

Vm::~Vm() {
  delete static_cast<wasmtime_memory_t*>(memory_);
  delete static_cast<wasmtime_instance_t*>(instance_);
  if (linker_ != nullptr) wasmtime_linker_delete(static_cast<wasmtime_linker_t*>(linker_));
  if (store_ != nullptr) wasmtime_store_delete(static_cast<wasmtime_store_t*>(store_));
}

bool Vm::has_function(std::string_view name) const { return module_->exports_function(name); }

struct Vm::FuncCache {
  struct Func {
    bool found = false;
    wasmtime_func_t func{};
    size_t nparams = 0;
    size_t nresults = 0;
    bool i64_result = false;
    bool plain = true;        // only i32/i64 parameters and results
    // The argument count a call must bring: nparams when the signature is
    // one call_raw handles (plain, at most 16 parameters and one result),
    // else kNotCallable. One compare per call instead of four.
    uint32_t call_nargs = kNotCallable;
    uint32_t nraw = 1;        // value slots the call needs (at least one)
  };
  static constexpr uint32_t kNotCallable = ~0u;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, int, Hash, std::equal_to<>> by_name;  // index into funcs, -1: absent
  std::vector<Func> funcs;
  std::vector<std::string> names;
};

int Vm::function_index(std::string_view name) {
  auto* ctx = static_cast<wasmtime_context_t*>(context_);
  if (!funcs_) funcs_ = std::make_unique<FuncCache>();
  auto it = funcs_->by_name.find(name);
  if (it == funcs_->by_name.end()) {
    FuncCache::Func f;
    wasmtime_extern_t item;
    if (wasmtime_instance_export_get(ctx, static_cast<wasmtime_instance_t*>(instance_), name.data(), name.size(),
                                     &item) &&
        item.kind == WASMTIME_EXTERN_FUNC) {
      f.found = true;
      f.func = item.of.func;
      wasm_functype_t* type = wasmtime_func_type(ctx, &item.of.func);
      const wasm_valtype_vec_t* params = wasm_functype_params(type);
      const wasm_valtype_vec_t* results = wasm_functype_results(type);
      f.nparams = params->size;
      f.nresults = results->size;
      for (size_t i = 0; i < params->size && i < 32; ++i) {
        wasm_valkind_t k = wasm_valtype_kind(params->data[i]);
        f.plain = f.plain && (k == WASM_I32 || k == WASM_I64);
      }
      for (size_t i = 0; i < results->size; ++i) {
        wasm_valkind_t k = wasm_valtype_kind(results->data[i]);
        f.i64_result = k == WASM_I64;
        f.plain = f.plain && (k == WASM_I32 || k == WASM_I64);
      }
      wasm_functype_delete(type);
      if (f.plain && f.nparams <= 16 && f.nresults <= 1) f.call_nargs = static_cast<uint32_t>(f.nparams);
      f.nraw = static_cast<uint32_t>(std::max<size_t>({f.nparams, f.nresults, 1}));
    }
    int index = -1;
    if (f.found) {
      index = static_cast<int>(funcs_->funcs.size());
      funcs_->funcs.push_back(f);
      funcs_->names.emplace_back(name);
    }
    it = funcs_->by_name.emplace(std::string(name), index).first;
  }
  return it->second;
}

CallResult Vm::call(std::string_view name, const uint64_t* args, size_t nargs, uint64_t* result) {
  int index = function_index(name);
  if (index < 0) {
    CallResult r;
    r.ok = false;
    r.error = "no exported function '" + std::string(name) + "'";
    return r;
  }
  return call(index, args, nargs, result);
}

CallResult Vm::call(int index, const uint64_t* args, size_t nargs, uint64_t* result) {
  CallResult r;
  r.ok = call_raw(index, args, nargs, result);
  if (!r.ok) {
    r.interrupted = last_interrupted_;
    r.error = std::move(last_error_);
  }
  return r;
}

bool Vm::call_raw(int index, const uint64_t* args, size_t nargs, uint64_t* result) {
  auto* ctx = static_cast<wasmtime_context_t*>(context_);
  const FuncCache::Func& entry = funcs_->funcs[static_cast<size_t>(index)];
  if (entry.call_nargs != nargs) {
    last_interrupted_ = false;
    last_error_ = "exported function '" + funcs_->names[static_cast<size_t>(index)] + "' has an unexpected signature";
    return false;
  }
  // Copies: host functions called from the guest may look up more exports
  // and so grow (and move) the cache while this call runs.
  const wasmtime_func_t func = entry.func;
  const size_t nresults = entry.nresults;
  const size_t nraw = entry.nraw;
  const bool i64_result = entry.i64_result;
  // Unchecked call: the signature was checked above against the cached type.
  // An i32 parameter is read from the slot's low half: writing the whole
  // 64 bits needs no per-parameter type test.
  wasmtime_val_raw_t raw[16];
  switch (nargs) {  // callbacks take one to three
    case 3: raw[2].i64 = static_cast<int64_t>(args[2]); [[fallthrough]];
    case 2: raw[1].i64 = static_cast<int64_t>(args[1]); [[fallthrough]];
    case 1: raw[0].i64 = static_cast<int64_t>(args[0]); [[fallthrough]];
    case 0: break;
    default:
      for (size_t i = 0; i < nargs; ++i) raw[i].i64 = static_cast<int64_t>(args[i]);
  }
  // Nested calls (an allocator called from a host function) keep the outer deadline.
  if (context_ == store_context_) {
    const uint64_t seq = g_epoch_seq.load(std::memory_order_acquire);
    if (seq != deadline_seq_) {
      wasmtime_context_set_epoch_deadline(ctx, budget_ticks_);
      deadline_seq_ = (seq & 1) == 0 ? seq : 1;  // mid-increment: set again next time
    }
  }
  wasm_trap_t* trap = nullptr;
  wasmtime_error_t* err = wasmtime_func_call_unchecked(ctx, &func, raw, nraw, &trap);
  if (err != nullptr) {
    last_interrupted_ = false;
    last_error_ = take_error(err);
    return false;
  }
  if (trap != nullptr) {
    last_error_ = take_trap(trap, &last_interrupted_);
    return false;
  }
  if (result != nullptr) {
    *result = nresults == 0 ? 0
              : i64_result  ? static_cast<uint64_t>(raw[0].i64)
                              : static_cast<uint64_t>(static_cast<uint32_t>(raw[0].i32));
  }
  return true;
}

// Out of the known size: the guest may have grown its memory since we
// last looked (it never moves, see Engine::Engine, and never shrinks).
uint8_t* Vm::memory_slow(uint32_t ptr, uint32_t len) {
  if (memory_ == nullptr) return nullptr;
  auto* ctx = static_cast<wasmtime_context_t*>(context_);
  auto* mem = static_cast<wasmtime_memory_t*>(memory_);
  mem_size_ = wasmtime_memory_data_size(ctx, mem);
  mem_base_ = wasmtime_memory_data(ctx, mem);
  if (mem_base_ == nullptr || static_cast<uint64_t>(ptr) + len > mem_size_) return nullptr;
  return mem_base_ + ptr;
}

bool Vm::write_u32(uint32_t ptr, uint32_t value) {
  uint8_t* p = memory(ptr, 4);
  if (p == nullptr) return false;
  std::memcpy(p, &value, 4);  // wasm is little-endian, like x86-64
  return true;
}

bool Vm::write_u64(uint32_t ptr, uint64_t value) {
  uint8_t* p = memory(ptr, 8);
  if (p == nullptr) return false;
  std::memcpy(p, &value, 8);
  return true;
}

}  // namespace wg::wasm

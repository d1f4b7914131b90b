// The WebAssembly engine behind a small interface: compile a module once
// (with an on-disk cache of compiled code keyed by the module's hash),
// instantiate it per worker, call its exports with i32/i64 values, expose
// host functions, and read/write its memory with bounds checks. Wasmtime is
// the only implementation; nothing outside src/wasm/engine.cc sees its types.
//
// Safety: every call runs under an epoch deadline (a runaway loop traps),
// memory growth is capped per instance, and a trap is reported as an error
// to the caller, never as a crash.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wg::wasm {

class Vm;

// A host function the module may import. Signature letters: i = i32,
// I = i64. The callback returns false to trap with *trap set.
using HostCallback = bool (*)(void* host, Vm& vm, const uint64_t* args, uint64_t* results, std::string* trap);
struct HostFunc {
  std::string module;  // "env", "wasi_snapshot_preview1", ...
  std::string name;
  std::string params;
  std::string results;
  HostCallback callback;
};

struct Limits {
  uint64_t max_memory_bytes = 64ull << 20;  // per instance
  uint32_t call_budget_ms = 100;            // per call into the module
};

class Module {
 public:
  ~Module();
  const std::string& name() const { return name_; }
  const std::string& hash() const { return hash_; }
  bool exports_function(std::string_view name) const;
  const std::vector<std::string>& exports() const { return exports_; }
  // Whether the module imports a function of that name (from any module).
  bool imports_function(std::string_view name) const;

 private:
  friend class Engine;
  friend class Vm;
  Module() = default;
  void* module_ = nullptr;  // wasmtime_module_t*
  std::string name_;
  std::string hash_;
  std::vector<std::string> exports_;
  std::vector<std::string> imports_;  // names only, sorted
};

// Process-wide engine; modules compiled by it can be instantiated from any
// thread.
class Engine {
 public:
  static Engine& instance();
  // Compiles bytes (.wasm, or .wat text). cache_dir: where compiled code is
  // kept by hash (empty: no disk cache).
  std::shared_ptr<const Module> compile(const std::string& name, const std::string& bytes,
                                        const std::string& cache_dir, std::string* error);
  void* raw() const { return engine_; }
  uint32_t tick_ms() const { return 10; }

 private:
  Engine();
  void* engine_ = nullptr;  // wasm_engine_t*
};

struct CallResult {
  bool ok = true;
  bool interrupted = false;  // cut by the epoch deadline
  std::string error;         // trap message with the Wasm backtrace
};

class Vm {
 public:
  // Instantiates module with the given host functions (unknown imports
  // trap if called). host is passed back to every callback.
  static std::unique_ptr<Vm> create(std::shared_ptr<const Module> module, const std::vector<HostFunc>& funcs,
                                    void* host, const Limits& limits, std::string* error);
  ~Vm();

  const Module& module() const { return *module_; }
  bool has_function(std::string_view name) const;
  // Calls an exported function; results may be null when it returns nothing.
  CallResult call(std::string_view name, const uint64_t* args, size_t nargs, uint64_t* result = nullptr);
  // The same by index (function_index: -1 when not exported), for callers
  // that call the same exports again and again.
  int function_index(std::string_view name);
  CallResult call(int index, const uint64_t* args, size_t nargs, uint64_t* result = nullptr);
  // The same without building a CallResult: false on a trap or error, whose
  // message (and whether the deadline cut it) last_error() then holds.
  bool call_raw(int index, const uint64_t* args, size_t nargs, uint64_t* result);
  const std::string& last_error() const { return last_error_; }
  bool last_interrupted() const { return last_interrupted_; }
  CallResult call(std::string_view name, std::initializer_list<uint64_t> args, uint64_t* result = nullptr) {
    return call(name, args.begin(), args.size(), result);
  }

  // Bounds-checked view of guest memory; nullptr when out of range.
  uint8_t* memory(uint32_t ptr, uint32_t len) {
    if (static_cast<uint64_t>(ptr) + len <= mem_size_) return mem_base_ + ptr;
    return memory_slow(ptr, len);
  }
  bool write_u32(uint32_t ptr, uint32_t value);
  bool write_u64(uint32_t ptr, uint64_t value);
  bool read_string(uint32_t ptr, uint32_t len, std::string_view* out) {
    if (len == 0) {
      *out = {};
      return true;
    }
    uint8_t* p = memory(ptr, len);
    if (p == nullptr) return false;
    *out = std::string_view(reinterpret_cast<const char*>(p), len);
    return true;
  }

 private:
  Vm() = default;
  uint8_t* memory_slow(uint32_t ptr, uint32_t len);
  friend struct Trampoline;
  std::shared_ptr<const Module> module_;
  void* store_ = nullptr;    // wasmtime_store_t*
  void* context_ = nullptr;  // wasmtime_context_t* currently usable (the caller's inside host calls)
  void* instance_ = nullptr; // wasmtime_instance_t*
  void* memory_ = nullptr;   // wasmtime_memory_t*, when exported
  uint8_t* mem_base_ = nullptr;  // base of memory_ (fixed: memories never move)
  size_t mem_size_ = 0;          // its size when last asked (it only grows)
  void* store_context_ = nullptr;  // the store's own context (outside host calls)
  uint64_t budget_ticks_ = 1;      // epoch ticks per top-level call
  uint64_t deadline_seq_ = 1;      // the ticker's count when the deadline was last set (odd: never)
  std::string trap_message_;       // set by a host function that traps
  std::string last_error_;         // of the last failed call_raw
  bool last_interrupted_ = false;
  void* linker_ = nullptr;
  Limits limits_;
  std::vector<std::unique_ptr<struct Trampoline>> trampolines_;
  // Exports looked up once (handle and signature): a callback per phase
  // per request should not pay a name lookup and a signature allocation.
  struct FuncCache;
  std::unique_ptr<FuncCache> funcs_;
};

}  // namespace wg::wasm

// Smoke test for the Wasmtime C API build (scripts/build-wasmtime.sh +
// cmake/Wasmtime.cmake). Checks exactly what wasmgate's Wasm host relies on:
//   1. WAT -> wasm (feature `wat`) and compilation (feature `cranelift`)
//   2. module serialize -> bytes/file -> deserialize (our on-disk code cache)
//   3. instantiate + call an exported function (add)
//   4. epoch interruption cuts an infinite loop (trap code INTERRUPT)
//   5. a store memory limit (wasmtime_store_limiter) makes memory.grow fail
//   6. the C++ header wasmtime.hh compiles and works
// Prints one PASS line per check; exits 0 only if all pass.
#include <wasmtime.h>
#include <wasmtime.hh>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>

namespace {

constexpr std::string_view kWat = R"wat(
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add)
  (func (export "spin")
    (loop $forever
      br $forever))
  ;; returns the old size in pages, or -1 when the grow is refused
  (func (export "grow") (param i32) (result i32)
    local.get 0
    memory.grow))
)wat";

int failures = 0;

void pass(const char* what) { std::printf("PASS %s\n", what); }

void fail(const char* what, const std::string& why) {
  std::printf("FAIL %s: %s\n", what, why.c_str());
  ++failures;
}

std::string take_error(wasmtime_error_t* err) {
  wasm_name_t msg;
  wasmtime_error_message(err, &msg);
  std::string s(msg.data, msg.size);
  wasm_byte_vec_delete(&msg);
  wasmtime_error_delete(err);
  return s;
}

std::string trap_message(const wasm_trap_t* trap) {
  wasm_message_t msg;
  wasm_trap_message(trap, &msg);
  std::string s(msg.data, msg.size);
  wasm_byte_vec_delete(&msg);
  return s;
}

[[noreturn]] void fatal(const char* what, const std::string& why) {
  fail(what, why);
  std::exit(1);
}

wasmtime_func_t export_func(wasmtime_context_t* cx, const wasmtime_instance_t* inst, const char* name) {
  wasmtime_extern_t item;
  if (!wasmtime_instance_export_get(cx, inst, name, std::strlen(name), &item) ||
      item.kind != WASMTIME_EXTERN_FUNC)
    fatal("export", std::string("no exported function ") + name);
  return item.of.func;
}

// Calls `f`, with the store's epoch deadline one tick away. Returns the trap
// (caller deletes) or nullptr.
wasm_trap_t* call(wasmtime_context_t* cx, const wasmtime_func_t& f, const wasmtime_val_t* args,
                  size_t nargs, wasmtime_val_t* results, size_t nresults) {
  wasmtime_context_set_epoch_deadline(cx, 1);
  wasm_trap_t* trap = nullptr;
  if (wasmtime_error_t* err = wasmtime_func_call(cx, &f, args, nargs, results, nresults, &trap))
    fatal("call", take_error(err));
  return trap;
}

wasmtime_val_t i32(int32_t v) {
  wasmtime_val_t val;
  val.kind = WASMTIME_I32;
  val.of.i32 = v;
  return val;
}

void cxx_api_check() {
  // wasmtime.hh is header-only on top of the C API.
  wasmtime::Engine engine;
  wasmtime::Store store(engine);
  auto module = wasmtime::Module::compile(engine, kWat);
  if (!module) return fail("wasmtime.hh", module.err().message());
  auto instance = wasmtime::Instance::create(store, module.ok(), {});
  if (!instance) return fail("wasmtime.hh", instance.err().message());
  auto add = std::get<wasmtime::Func>(*instance.ok().get(store, "add"));
  auto results = add.call(store, {wasmtime::Val(int32_t{40}), wasmtime::Val(int32_t{2})});
  if (!results) return fail("wasmtime.hh", results.err().message());
  int32_t sum = results.ok()[0].i32();
  if (sum != 42) return fail("wasmtime.hh", "add(40, 2) = " + std::to_string(sum));
  pass("wasmtime.hh C++ API: compile, instantiate, add(40, 2) = 42");
}

}  // namespace

int main() {
  // Engine with epoch interruption (the runaway-loop guard).
  wasm_config_t* config = wasm_config_new();
  wasmtime_config_epoch_interruption_set(config, true);
  wasm_engine_t* engine = wasm_engine_new_with_config(config);  // takes config
  if (engine == nullptr) fatal("engine", "wasm_engine_new_with_config returned null");

  // 1. WAT -> wasm -> compiled module.
  wasm_byte_vec_t wasm;
  if (wasmtime_error_t* err = wasmtime_wat2wasm(kWat.data(), kWat.size(), &wasm))
    fatal("wat2wasm", take_error(err));
  wasmtime_module_t* compiled = nullptr;
  if (wasmtime_error_t* err =
          wasmtime_module_new(engine, reinterpret_cast<const uint8_t*>(wasm.data), wasm.size, &compiled))
    fatal("compile", take_error(err));
  std::printf("PASS wat2wasm + cranelift compile (%zu bytes of wasm)\n", wasm.size);
  wasm_byte_vec_delete(&wasm);

  // 2. Serialize -> deserialize, from memory and from a file.
  wasm_byte_vec_t code;
  if (wasmtime_error_t* err = wasmtime_module_serialize(compiled, &code))
    fatal("serialize", take_error(err));
  wasmtime_module_delete(compiled);
  wasmtime_module_t* module = nullptr;
  if (wasmtime_error_t* err =
          wasmtime_module_deserialize(engine, reinterpret_cast<const uint8_t*>(code.data), code.size, &module))
    fatal("deserialize", take_error(err));
  std::printf("PASS serialize -> deserialize in memory (%zu bytes of compiled code)\n", code.size);
  {
    char path[] = "/tmp/wasmtime-smoke-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, code.data, code.size) != static_cast<ssize_t>(code.size)) {
      fail("deserialize_file", "cannot write temp file");
    } else {
      close(fd);
      wasmtime_module_t* from_file = nullptr;
      if (wasmtime_error_t* err = wasmtime_module_deserialize_file(engine, path, &from_file)) {
        fail("deserialize_file", take_error(err));
      } else {
        pass("serialize -> file -> wasmtime_module_deserialize_file");
        wasmtime_module_delete(from_file);
      }
    }
    unlink(path);
  }
  wasm_byte_vec_delete(&code);

  // Store with a memory cap of 2 wasm pages (128 KiB); the module starts at 1.
  constexpr int64_t kMemoryLimit = 2 * 65536;
  wasmtime_store_t* store = wasmtime_store_new(engine, nullptr, nullptr);
  wasmtime_store_limiter(store, kMemoryLimit, /*table_elements=*/-1, /*instances=*/-1,
                         /*tables=*/-1, /*memories=*/-1);
  wasmtime_context_t* cx = wasmtime_store_context(store);

  // 3. Instantiate the deserialized module and call add.
  wasmtime_instance_t instance;
  wasm_trap_t* trap = nullptr;
  wasmtime_context_set_epoch_deadline(cx, 1);
  if (wasmtime_error_t* err = wasmtime_instance_new(cx, module, nullptr, 0, &instance, &trap))
    fatal("instantiate", take_error(err));
  if (trap != nullptr) fatal("instantiate", trap_message(trap));
  wasmtime_func_t add = export_func(cx, &instance, "add");
  wasmtime_func_t spin = export_func(cx, &instance, "spin");
  wasmtime_func_t grow = export_func(cx, &instance, "grow");
  {
    wasmtime_val_t args[2] = {i32(2), i32(3)};
    wasmtime_val_t result;
    if (wasm_trap_t* t = call(cx, add, args, 2, &result, 1)) {
      fail("add", trap_message(t));
      wasm_trap_delete(t);
    } else if (result.kind != WASMTIME_I32 || result.of.i32 != 5) {
      fail("add", "add(2, 3) returned " + std::to_string(result.of.i32));
    } else {
      pass("instantiate deserialized module, add(2, 3) = 5");
    }
  }

  // 4. Epoch interruption: spin forever until another thread bumps the epoch.
  {
    auto start = std::chrono::steady_clock::now();
    std::thread ticker([engine] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      wasmtime_engine_increment_epoch(engine);
    });
    wasm_trap_t* t = call(cx, spin, nullptr, 0, nullptr, 0);
    ticker.join();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                  .count();
    wasmtime_trap_code_t code;
    if (t == nullptr) {
      fail("epoch interruption", "spin returned without a trap");
    } else if (!wasmtime_trap_code(t, &code) || code != WASMTIME_TRAP_CODE_INTERRUPT) {
      fail("epoch interruption", "unexpected trap: " + trap_message(t));
    } else {
      std::printf("PASS epoch interruption: infinite loop trapped with WASMTIME_TRAP_CODE_INTERRUPT after %lld ms (\"%s\")\n",
                  static_cast<long long>(ms), trap_message(t).c_str());
    }
    if (t != nullptr) wasm_trap_delete(t);
  }
  // The instance is still usable after the interrupt.
  {
    wasmtime_val_t args[2] = {i32(20), i32(22)};
    wasmtime_val_t result;
    wasm_trap_t* t = call(cx, add, args, 2, &result, 1);
    if (t != nullptr || result.of.i32 != 42) {
      fail("call after interrupt", t ? trap_message(t) : std::to_string(result.of.i32));
      if (t) wasm_trap_delete(t);
    } else {
      pass("same instance callable after the interrupt, add(20, 22) = 42");
    }
  }

  // 5. Memory limit: 1 -> 2 pages is allowed, 2 -> 3 is refused (memory.grow = -1).
  {
    wasmtime_val_t one = i32(1);
    wasmtime_val_t r1, r2;
    wasm_trap_t* t1 = call(cx, grow, &one, 1, &r1, 1);
    wasm_trap_t* t2 = t1 ? nullptr : call(cx, grow, &one, 1, &r2, 1);
    if (t1 || t2) {
      fail("memory limit", trap_message(t1 ? t1 : t2));
      wasm_trap_delete(t1 ? t1 : t2);
    } else if (r1.of.i32 != 1 || r2.of.i32 != -1) {
      fail("memory limit", "grow results " + std::to_string(r1.of.i32) + ", " + std::to_string(r2.of.i32) +
                               " (want 1, -1)");
    } else {
      pass("memory limit 128 KiB: memory.grow 1->2 pages ok, 2->3 pages refused (-1)");
    }
    // The host-side grow is refused too.
    wasmtime_extern_t mem;
    uint64_t prev = 0;
    if (!wasmtime_instance_export_get(cx, &instance, "memory", 6, &mem) || mem.kind != WASMTIME_EXTERN_MEMORY) {
      fail("memory limit (host)", "no memory export");
    } else if (wasmtime_error_t* err = wasmtime_memory_grow(cx, &mem.of.memory, 1, &prev)) {
      std::printf("PASS memory limit: wasmtime_memory_grow from the host refused (\"%s\"); size %llu bytes\n",
                  take_error(err).c_str(),
                  static_cast<unsigned long long>(wasmtime_memory_data_size(cx, &mem.of.memory)));
    } else {
      fail("memory limit (host)", "wasmtime_memory_grow succeeded beyond the limit");
    }
  }

  wasmtime_store_delete(store);
  wasmtime_module_delete(module);
  wasm_engine_delete(engine);

  // 6. The C++ API header.
  cxx_api_check();

  if (failures != 0) {
    std::printf("FAILED: %d check(s)\n", failures);
    return 1;
  }
  std::printf("ALL PASS\n");
  return 0;
}

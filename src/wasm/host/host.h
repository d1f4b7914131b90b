// What the Proxy-Wasm host functions share (internal to src/wasm/host/):
// the ABI's status codes, typed decoding of a call's arguments (every
// guest pointer checked in one place), and the helpers that reach into the
// FilterVm the call is about. Each file of this folder holds one family of
// host functions and adds them to the import table (host_table.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wasm/engine.h"
#include "wasm/proxy_wasm.h"

namespace wg::wasm::host {

// proxy_status_t
enum Status : uint32_t {
  kOk = 0,
  kNotFound = 1,
  kBadArgument = 2,
  kParseFailure = 4,
  kInvalidMemoryAccess = 6,
  kEmpty = 7,
  kCasMismatch = 8,
  kInternalFailure = 10,
  kUnimplemented = 12,
};

// WASI errno values.
constexpr uint32_t kWasiSuccess = 0, kWasiBadf = 8, kWasiInval = 28, kWasiNosys = 52;

// A host function's arguments as the ABI types them. Guest (pointer, size)
// pairs become views into guest memory and out-pointers are written
// through here, each bounds-checked; a function decodes what it needs and
// asks ok() once, instead of a branch per pointer.
class Args {
 public:
  Args(Vm& vm, const uint64_t* a) : vm_(vm), a_(a) {}
  uint32_t u32(size_t i) const { return static_cast<uint32_t>(a_[i]); }
  uint64_t u64(size_t i) const { return a_[i]; }
  // The bytes at (argument i, argument i + 1).
  std::string_view bytes(size_t i) {
    std::string_view s;
    ok_ = vm_.read_string(u32(i), u32(i + 1), &s) && ok_;
    return s;
  }
  // Whether every pointer decoded so far was inside guest memory.
  bool ok() const { return ok_; }
  // Writes through the out-pointer at argument i: kOk or kInvalidMemoryAccess.
  uint32_t put_u32(size_t i, uint32_t v) const { return vm_.write_u32(u32(i), v) ? kOk : kInvalidMemoryAccess; }
  uint32_t put_u64(size_t i, uint64_t v) const { return vm_.write_u64(u32(i), v) ? kOk : kInvalidMemoryAccess; }
  Vm& vm() const { return vm_; }

 private:
  Vm& vm_;
  const uint64_t* a_;
  bool ok_ = true;
};

// The signature of every host function (engine.h's HostCallback).
#define WG_HOST(name) bool name(void* host, Vm& vm, const uint64_t* a, uint64_t* r, std::string* trap)
#define WG_UNUSED_HOST (void)host, (void)vm, (void)a, (void)r, (void)trap

// A call's answer: status s in the result slot.
inline bool answer_with(uint64_t* r, uint32_t s) {
  r[0] = s;
  return true;
}

// A host function that only answers: with `value`, whatever it is asked.
template <uint32_t value>
WG_HOST(answer) {
  WG_UNUSED_HOST;
  r[0] = value;
  return true;
}

// Reaches into the FilterVm a call is about (FilterVm's friend).
struct Access {
  static FilterVm& self(void* host) { return *static_cast<FilterVm*>(host); }
  // Copies data into a block the module allocates, and writes its address
  // and size to the module's out-pointers (the ABI's ownership rule).
  static uint32_t give(FilterVm& f, Vm& vm, std::string_view data, uint32_t ptr_ptr, uint32_t size_ptr);
  static uint32_t give(FilterVm& f, const Args& in, std::string_view data, size_t ptr_arg) {
    return give(f, in.vm(), data, in.u32(ptr_arg), in.u32(ptr_arg + 1));
  }
  static const FilterVm::Context* ctx(FilterVm& f);
  static const FilterVm::Context* root_of(FilterVm& f);
  static pipeline::Exchange* stream(FilterVm& f) { return f.stream_; }
  static HttpCallResult* call_result(FilterVm& f) { return f.call_result_; }
  static WorkerHooks* hooks(FilterVm& f) { return f.hooks_; }
  static uint32_t current_ctx(FilterVm& f) { return f.current_ctx_; }
  // The stream the call changed, to be woken once the callback returns.
  static void woke(FilterVm& f, pipeline::Exchange* s) { f.woken_.push_back(s); }
  // Members the function families own the meaning of.
  static std::vector<FilterVm::TickTimer>& ticks(FilterVm& f) { return f.ticks_; }
  static std::vector<FilterVm::QueueRegistration>& queues(FilterVm& f) { return f.queues_; }
  static HeaderNameCache& header_names(FilterVm& f) { return f.header_names_; }
  static Abi abi(FilterVm& f) { return f.abi_; }
  static const std::string& vm_config(FilterVm& f) { return f.vm_configuration_; }
  static SharedState& shared_state(FilterVm& f) { return *f.shared_state_; }
  static bool scratch(FilterVm& f) { return f.scratch_; }
  static const std::string* plugin_config(FilterVm& f) { return f.plugin_config_; }
  static const std::string* foreign_args(FilterVm& f) { return f.foreign_args_; }
  // Map 4 (initial) or 5 (trailing) while its callback runs, else null.
  static HeaderMap* grpc_metadata(FilterVm& f, uint64_t type) {
    return f.grpc_metadata_ != nullptr && (type == 5) == f.grpc_trailing_ ? f.grpc_metadata_ : nullptr;
  }
  static const std::string* grpc_message(FilterVm& f) { return f.grpc_message_; }
  static std::vector<FilterVm::GrpcCall>& grpc_calls(FilterVm& f) { return f.grpc_calls_; }
  static void forget_grpc_call(FilterVm& f, uint32_t token) { f.forget_grpc(token); }
  static uint32_t next_call_token(FilterVm& f) { return f.next_call_token_++; }
  static uint32_t callout_status(FilterVm& f) { return f.callout_status_; }
  static const std::string& callout_message(FilterVm& f) { return f.callout_message_; }
  static std::string& output_line(FilterVm& f, uint32_t fd) { return f.output_[fd - 1]; }
  static void log_output(FilterVm& f, uint32_t fd, std::string_view text) { f.log_output(fd, text); }
  static bool set_effective_context(FilterVm& f, uint32_t id);
  static std::shared_ptr<FilterVm> shared(FilterVm& f) { return f.shared_from_this(); }
};

// Proxy-Wasm's clear_route_cache (an import in ABI 0.1.0, a foreign function
// after): the request is matched again after the request head phase.
uint32_t clear_route_cache(FilterVm& f);

// What a filter may put in a header map: a token name (or a pseudo-header
// ":name") and a value without CR, LF or NUL, so nothing a filter writes
// can split or forge a head on the wire.
bool valid_header(std::string_view name, std::string_view value);
bool valid_headers(const HeaderList& list);

// Every host function a module may import (Proxy-Wasm 0.1.0 to 0.2.1 and
// the WASI calls SDK runtimes make): host_table.cc.
std::vector<HostFunc> table();

// The families, each adding its functions to the import table.
void add_log_and_time(std::vector<HostFunc>* t);   // host_log_time.cc
void add_http(std::vector<HostFunc>* t);           // host_http.cc: buffers, header maps, stream control, properties
void add_shared(std::vector<HostFunc>* t);         // host_shared.cc: shared data, queues, metrics
void add_callouts(std::vector<HostFunc>* t);       // host_callouts.cc: http_call, foreign functions, gRPC, status
void add_wasi(std::vector<HostFunc>* t);           // host_wasi.cc

}  // namespace wg::wasm::host

// The filter VM: one instance of a filter module in one worker, its root
// and HTTP contexts, and the callbacks into it. The host functions it
// imports are in src/wasm/host/.
#include "wasm/proxy_wasm.h"

#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <string>

#include "core/log.h"
#include "shared/metrics.h"
#include "wasm/host/host.h"
#include "wasm/shared_state.h"

namespace wg::wasm {
namespace {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The time counter's clock: the CPU's cycle counter where there is one
// (one instruction, against a clock_gettime per read), converted to
// nanoseconds against the monotonic clock since the process started.
uint64_t cycles() {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return monotonic_ns();
#endif
}

struct CycleEpoch {
  uint64_t cycles0 = cycles();
  uint64_t ns0 = monotonic_ns();
};
const CycleEpoch kCycleEpoch;

uint64_t cycles_to_ns(uint64_t n) {
#if defined(__x86_64__)
  const uint64_t dc = cycles() - kCycleEpoch.cycles0;
  const uint64_t dn = monotonic_ns() - kCycleEpoch.ns0;
  if (dc == 0 || dn == 0) return 0;
  return static_cast<uint64_t>(static_cast<double>(n) * static_cast<double>(dn) / static_cast<double>(dc));
#else
  return n;
#endif
}

}  // namespace

bool detect_abi(const Module& m, Abi* out) {
  for (const auto& e : m.exports()) {
    if (e == "proxy_abi_version_0_1_0") {
      *out = Abi::V0_1_0;
      return true;
    }
    if (e == "proxy_abi_version_0_2_0") {
      *out = Abi::V0_2_0;
      return true;
    }
    if (e == "proxy_abi_version_0_2_1") {
      *out = Abi::V0_2_1;
      return true;
    }
  }
  return false;
}

namespace {
// In the order of enum Callback.
constexpr const char* kCallbackNames[] = {
    "proxy_on_context_create",  "proxy_on_vm_start",          "proxy_on_configure",
    "proxy_on_request_headers", "proxy_on_request_body",      "proxy_on_request_trailers",
    "proxy_on_response_headers", "proxy_on_response_body",    "proxy_on_response_trailers",
    "proxy_on_log",             "proxy_on_done",              "proxy_on_delete",
    "proxy_on_http_call_response", "proxy_on_tick",           "proxy_on_queue_ready",
    "proxy_on_foreign_function", "proxy_on_grpc_receive_initial_metadata", "proxy_on_grpc_receive",
    "proxy_on_grpc_receive_trailing_metadata", "proxy_on_grpc_close",
};
static_assert(std::size(kCallbackNames) == static_cast<size_t>(Callback::Count));
}  // namespace

std::unique_ptr<FilterVm> FilterVm::create(std::shared_ptr<const Module> module, const Limits& limits,
                                           const VmSetup& setup, std::string* error) {
  auto f = std::unique_ptr<FilterVm>(new FilterVm());
  f->vm_configuration_ = setup.configuration;
  f->scratch_ = setup.scratch != nullptr;
  f->shared_state_ = f->scratch_ ? setup.scratch : &SharedState::live();
  if (!detect_abi(*module, &f->abi_)) {
    *error = "missing or unknown Proxy-Wasm ABI version (no proxy_abi_version_* export)";
    return nullptr;
  }
  if (!module->exports_function("proxy_on_memory_allocate") && !module->exports_function("malloc")) {
    *error = "module exports neither proxy_on_memory_allocate nor malloc";
    return nullptr;
  }
  f->vm_ = Vm::create(module, host::table(), f.get(), limits, error);
  if (!f->vm_) return nullptr;
  f->stats_ = shared::Metrics::instance().stats_for(module->name());
  for (size_t i = 0; i < static_cast<size_t>(Callback::Count); ++i) {
    f->callbacks_[i] = f->vm_->function_index(kCallbackNames[i]);
  }
  // Start-up per the ABI: reactors (_initialize, then main), commands
  // (_start); modules with a start section already ran it.
  if (module->exports_function("_initialize")) {
    if (!f->call("_initialize", {}, nullptr)) {
      *error = f->last_error_;
      return nullptr;
    }
    if (module->exports_function("main")) f->call("main", {0, 0}, nullptr);
  } else if (module->exports_function("_start")) {
    if (!f->call("_start", {}, nullptr)) {
      *error = f->last_error_;
      return nullptr;
    }
  }
  return f;
}

FilterVm::~FilterVm() { flush_stats(0); }

// Calls and time are counted here and handed to the shared per-filter
// counters every few milliseconds: no atomic operation per callback.
void FilterVm::flush_stats(uint64_t now_ms) {
  if (pending_calls_ == 0 || stats_ == nullptr || (now_ms != 0 && now_ms < next_flush_ms_)) return;
  next_flush_ms_ = now_ms + kStatsFlushMs;
  stats_->add_calls(pending_calls_, cycles_to_ns(pending_cycles_));
  pending_calls_ = 0;
  pending_cycles_ = 0;
}

// Export names are string literals here: their addresses key a small cache
// of function indexes, so a callback costs no name lookup.
int FilterVm::fn_index(const char* fn) {
  // Open addressing on the literal's address: a hit is a hash and a compare.
  size_t slot = (reinterpret_cast<uintptr_t>(fn) >> 3) % kFnSlots;
  for (size_t probe = 0; probe < kFnSlots; ++probe, slot = (slot + 1) % kFnSlots) {
    if (fn_slots_[slot].name == fn) return fn_slots_[slot].index;
    if (fn_slots_[slot].name == nullptr) {
      fn_slots_[slot] = {fn, vm_->function_index(fn)};
      return fn_slots_[slot].index;
    }
  }
  return vm_->function_index(fn);  // table full (never: the host calls fewer exports)
}

const char* FilterVm::callback_name(Callback cb) { return kCallbackNames[static_cast<size_t>(cb)]; }

bool FilterVm::call_at(int index, const char* fn, const uint64_t* args, size_t nargs, uint64_t* result) {
  if (broken_) return false;
  if (index < 0) {
    if (result != nullptr) *result = 0;
    return true;  // every callback is optional
  }
  const uint64_t t0 = cycles();
  const bool ok = vm_->call_raw(index, args, nargs, result);
  const uint64_t t1 = cycles();
  ++pending_calls_;
  pending_cycles_ += t1 > t0 ? t1 - t0 : 0;
  if (!output_[0].empty() || !output_[1].empty()) {
    for (uint32_t fd = 1; fd <= 2; ++fd) {
      log_output(fd, output_[fd - 1]);
      output_[fd - 1].clear();
    }
  }
  if (!ok) {
    stats_->add_trap();
    broken_ = true;  // a trapped instance is never called again; the worker replaces it
    last_error_ = std::string(vm_->last_interrupted() ? "execution budget exceeded in " : "trap in ") + fn + ": " +
                  vm_->last_error();
    return false;
  }
  return true;
}

uint32_t FilterVm::add_root(const std::string& filter_name, const std::string& root_id, const std::string& config,
                            std::string* error) {
  root_infos_.push_back(std::make_unique<RootInfo>(RootInfo{filter_name, root_id, config}));
  Context root;
  root.id = next_id_++;
  root.info = root_infos_.back().get();
  contexts_.push_back(root);
  enter(root.id, nullptr);
  uint64_t ok = 1;
  if (!call(Callback::ContextCreate, {root.id, 0}, nullptr)) {
    *error = last_error_;
    return 0;
  }
  // Every root context's start runs on_vm_start, as proxy-wasm-cpp-host's
  // WasmBase::start does for each plugin it starts in a VM.
  bool started = call(Callback::VmStart, {root.id, vm_configuration_.size()}, &ok);
  if (!started) {
    *error = last_error_;
    return 0;
  }
  if (exports(Callback::VmStart) && ok == 0) {
    *error = "proxy_on_vm_start returned false";
    return 0;
  }
  plugin_config_ = &root.info->configuration;
  bool configured = call(Callback::Configure, {root.id, config.size()}, &ok);
  plugin_config_ = nullptr;
  if (!configured) {
    *error = last_error_;
    return 0;
  }
  if (exports(Callback::Configure) && ok == 0) {
    *error = "proxy_on_configure returned false";
    return 0;
  }
  return root.id;
}

void FilterVm::log_output(uint32_t fd, std::string_view text) {
  if (text.empty()) return;
  const Context* root = find_context(current_ctx_);
  if (root != nullptr && root->root != 0) root = find_context(root->root);
  const log::Level level = scratch_ ? log::Level::Debug : log::Level::Info;  // a check's start-up stays quiet
  if (!log::enabled(level)) return;
  log::write(level, "[wasm]%s filter %s (%s): %.*s", scratch_ ? " (check)" : "",
             root ? root->info->filter_name.c_str() : vm_->module().name().c_str(), fd == 1 ? "stdout" : "stderr",
             static_cast<int>(text.size()), text.data());
}

FilterVm::Context* FilterVm::find_context(uint32_t id) {
  for (auto& c : contexts_) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

void FilterVm::enter(uint32_t ctx, pipeline::Exchange* s) {
  current_ctx_ = ctx;
  stream_ = s;
}

void FilterVm::leave() {
  stream_ = nullptr;
  call_result_ = nullptr;
  grpc_metadata_ = nullptr;
  grpc_message_ = nullptr;
}

// After a callback the worker drove: tell each stream the filter resumed or
// answered (an owner may close its session, so the list is taken first).
void FilterVm::wake_streams() {
  std::vector<pipeline::Exchange*> woken;
  woken.swap(woken_);
  for (size_t i = 0; i < woken.size(); ++i) {
    bool seen = false;
    for (size_t j = 0; j < i; ++j) seen = seen || woken[j] == woken[i];
    if (!seen) woken[i]->wake();
  }
}

uint32_t FilterVm::create_http_context(uint32_t root_id, pipeline::Exchange* stream) {
  Context c;
  c.id = next_id_++;
  c.root = root_id;
  c.stream = stream;
  if (const Context* root = find_context(root_id)) c.info = root->info;
  contexts_.push_back(c);
  enter(c.id, stream);
  call(Callback::ContextCreate, {c.id, root_id}, nullptr);
  leave();
  return c.id;
}

Action FilterVm::headers_callback(Callback cb, uint32_t ctx, pipeline::Exchange& s, size_t count, bool eos) {
  // Another request trapped this instance after ours started: ours did
  // nothing wrong, so it goes on without this filter (fails open).
  if (broken_) return Action::Continue;
  enter(ctx, &s);
  uint64_t action = 0;
  const uint64_t args[3] = {ctx, count, eos ? 1u : 0u};
  bool ok = call(cb, args, abi_ == Abi::V0_1_0 ? 2 : 3, &action);  // 0.1.0 has no end_of_stream
  leave();
  woken_.clear();  // the session looks at the stream's flags itself
  if (!ok) return Action::Fail;
  // FilterHeadersStatus: 0 Continue and 2 ContinueAndEndStream go on;
  // StopIteration and StopAllIteration* pause.
  return action == 0 || action == 2 ? Action::Continue : Action::Pause;
}

Action FilterVm::on_request_headers(uint32_t ctx, pipeline::Exchange& s, bool eos) {
  return headers_callback(Callback::RequestHeaders, ctx, s, s.request_headers.count(), eos);
}

Action FilterVm::on_response_headers(uint32_t ctx, pipeline::Exchange& s, bool eos) {
  return headers_callback(Callback::ResponseHeaders, ctx, s, s.response_headers.count(), eos);
}

Action FilterVm::on_body(uint32_t ctx, pipeline::Exchange& s, std::string& body, bool response, bool eos) {
  if (broken_) return Action::Continue;
  const Callback cb = response ? Callback::ResponseBody : Callback::RequestBody;
  if (!exports(cb)) return Action::Continue;
  enter(ctx, &s);
  s.body = &body;
  s.body_is_response = response;
  uint64_t action = 0;
  bool ok = call(cb, {ctx, body.size(), eos ? 1u : 0u}, &action);
  s.body = nullptr;
  leave();
  woken_.clear();
  if (!ok) return Action::Fail;
  return action == 0 ? Action::Continue : Action::Pause;  // StopIteration*: keep buffering
}

Action FilterVm::on_trailers(uint32_t ctx, pipeline::Exchange& s, bool response) {
  if (broken_) return Action::Continue;
  const Callback cb = response ? Callback::ResponseTrailers : Callback::RequestTrailers;
  if (!exports(cb)) return Action::Continue;
  enter(ctx, &s);
  uint64_t action = 0;
  const uint64_t n = response ? s.response_trailers.size() : s.request_trailers.size();
  bool ok = call(cb, {ctx, n}, &action);
  leave();
  woken_.clear();
  if (!ok) return Action::Fail;
  return action == 0 ? Action::Continue : Action::Pause;
}

void FilterVm::on_log(uint32_t ctx, pipeline::Exchange& s) {
  enter(ctx, &s);
  call(Callback::Log, {ctx}, nullptr);
  leave();
  woken_.clear();
}

void FilterVm::on_done_and_delete(uint32_t ctx, pipeline::Exchange& s) {
  if (exports(Callback::Done) || exports(Callback::Delete)) {
    enter(ctx, &s);
    call(Callback::Done, {ctx}, nullptr);
    call(Callback::Delete, {ctx}, nullptr);
    leave();
    woken_.clear();
  }
  for (auto it = contexts_.begin(); it != contexts_.end(); ++it) {
    if (it->id == ctx) {
      contexts_.erase(it);
      break;
    }
  }
}

// Another request broke this instance while c's request waited for an
// answer (http_call, foreign function): that request goes on without the
// filter, as its other callbacks do.
void FilterVm::resume_without_filter(Context& c) {
  if (c.stream == nullptr) return;
  c.stream->resume_request = c.stream->resume_response = true;
  woken_.push_back(c.stream);
  wake_streams();
}

// A callback the worker drove for stream s trapped: that fails s's request.
void FilterVm::fail_stream(pipeline::Exchange* s, uint32_t root_id) {
  if (s == nullptr) return;
  s->local_reply = true;
  s->local_status = 500;
  s->local_body = "An unexpected error occurred";
  s->local_headers.clear();
  Context* root = find_context(root_id);
  WG_LOG(Error, "filter %s failed this request: %s", root ? root->info->filter_name.c_str() : "?", last_error_.c_str());
  woken_.push_back(s);
}

void FilterVm::on_http_call_response(uint32_t ctx, uint32_t token, HttpCallResult& result) {
  Context* c = find_context(ctx);
  if (c == nullptr) return;  // the request it was for has ended
  if (broken_) return resume_without_filter(*c);
  pipeline::Exchange* s = c->stream;
  enter(ctx, s);
  call_result_ = &result;
  callout_status_ = result.ok ? 0 : 11;
  callout_message_ = result.ok ? "" : "reset";
  uint64_t nheaders = result.ok ? result.headers.size() : 0;
  uint64_t ntrailers = result.ok ? result.trailers.size() : 0;
  // The ABI passes the root context; SDKs find the caller by token and
  // switch to it with proxy_set_effective_context. Until they do, host
  // calls act on the caller's stream.
  uint32_t root_id = c->root != 0 ? c->root : c->id;
  bool ok = call(Callback::HttpCallResponse, {root_id, token, nheaders, result.body.size(), ntrailers}, nullptr);
  leave();
  if (!ok) fail_stream(s, root_id);
  wake_streams();
}

void FilterVm::on_foreign_function(uint32_t ctx, uint32_t function_id, const std::string& args) {
  Context* c = find_context(ctx);
  if (c == nullptr) return;  // the request it was for has ended
  if (broken_) return resume_without_filter(*c);
  pipeline::Exchange* s = c->stream;
  const uint32_t root_id = c->root != 0 ? c->root : c->id;
  enter(ctx, s);
  foreign_args_ = &args;
  bool ok = call(Callback::ForeignFunction, {ctx, function_id, args.size()}, nullptr);
  foreign_args_ = nullptr;
  leave();
  if (!ok) fail_stream(s, root_id);
  wake_streams();
}

void FilterVm::callout_callback(Callback cb, Context& c, std::initializer_list<uint64_t> args) {
  pipeline::Exchange* s = c.stream;
  const uint32_t root_id = c.root != 0 ? c.root : c.id;
  enter(c.id, s);
  uint64_t argv[4] = {root_id, 0, 0, 0};
  size_t n = 1;
  for (uint64_t v : args) argv[n++] = v;
  bool ok = call(cb, argv, n, nullptr);
  leave();
  if (!ok) fail_stream(s, root_id);
  wake_streams();
}

void FilterVm::forget_grpc(uint32_t token) {
  for (size_t i = 0; i < grpc_calls_.size(); ++i) {
    if (grpc_calls_[i].token == token) {
      grpc_calls_.erase(grpc_calls_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

// gRPC answers go to the root context, as http_call's do; SDKs switch to
// the caller with proxy_set_effective_context, and until they do, host
// calls act on the caller's stream.
void FilterVm::on_grpc_metadata(uint32_t ctx, uint32_t token, HeaderMap& md, bool trailing) {
  Context* c = find_context(ctx);
  if (c == nullptr || broken_) return;
  grpc_metadata_ = &md;
  grpc_trailing_ = trailing;
  callout_callback(trailing ? Callback::GrpcReceiveTrailingMetadata : Callback::GrpcReceiveInitialMetadata, *c,
                   {token, md.size()});
}

void FilterVm::on_grpc_message(uint32_t ctx, uint32_t token, std::string& message, bool last) {
  if (last) forget_grpc(token);
  Context* c = find_context(ctx);
  if (c == nullptr) return;  // the request it was for has ended
  if (broken_) return resume_without_filter(*c);
  grpc_message_ = &message;
  callout_status_ = 0;
  callout_message_.clear();
  callout_callback(Callback::GrpcReceive, *c, {token, message.size()});
}

void FilterVm::on_grpc_close(uint32_t ctx, uint32_t token, uint32_t status, const std::string& message) {
  forget_grpc(token);
  Context* c = find_context(ctx);
  if (c == nullptr) return;
  if (broken_) return resume_without_filter(*c);
  callout_status_ = status;  // proxy_get_status in the callback
  callout_message_ = message;
  callout_callback(Callback::GrpcClose, *c, {token, status});
}

void FilterVm::on_tick(uint32_t root) {
  if (broken_) return;
  enter(root, nullptr);
  call(Callback::Tick, {root}, nullptr);
  leave();
  wake_streams();
}

void FilterVm::on_queue_ready(uint32_t root, uint32_t queue_id) {
  if (broken_) return;
  enter(root, nullptr);
  call(Callback::QueueReady, {root, queue_id}, nullptr);
  leave();
  wake_streams();
}

}  // namespace wg::wasm

// The Proxy-Wasm host (ABI 0.1.0, 0.2.0, 0.2.1): one FilterVm is one
// instance of a filter module in one worker. Root contexts (one per filter
// configuration) and HTTP contexts (one per request) live inside it; the
// host functions act on the context and HTTP stream that the current
// callback is about.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wasm/engine.h"
#include "pipeline/exchange.h"
#include "wasm/header_name_cache.h"
#include "wasm/pairs.h"

namespace wg::shared {
struct FilterStats;
}

namespace wg::wasm {

namespace host {
struct Access;
}
struct SharedState;

enum class Abi { V0_1_0, V0_2_0, V0_2_1 };

// The callbacks the host calls (proxy_on_*); their export indexes are
// looked up once per instance.
enum class Callback : uint8_t {
  ContextCreate,
  VmStart,
  Configure,
  RequestHeaders,
  RequestBody,
  RequestTrailers,
  ResponseHeaders,
  ResponseBody,
  ResponseTrailers,
  Log,
  Done,
  Delete,
  HttpCallResponse,
  Tick,
  QueueReady,
  ForeignFunction,
  GrpcReceiveInitialMetadata,
  GrpcReceive,
  GrpcReceiveTrailingMetadata,
  GrpcClose,
  Count
};

// Detects the ABI from the module's marker export; false if none is known.
bool detect_abi(const Module& m, Abi* out);

enum class Action { Continue, Pause, Fail };

// An HTTP call a filter dispatched (proxy_http_call), and what came back.
struct HttpCallSpec {
  std::string target;  // "host:port", or a service or upstream name
  HeaderList headers;  // with :method, :path, :authority
  std::string body;
  uint32_t timeout_ms = 0;
};
struct HttpCallResult {
  bool ok = false;    // false: no response (connect error, timeout, bad reply)
  HeaderMap headers;  // with :status
  std::string body;
  HeaderMap trailers;  // a chunked answer's trailer section
};

// A gRPC call or stream a filter opened (proxy_grpc_call, proxy_grpc_stream).
struct GrpcCallSpec {
  std::string target;  // "host:port", or a service or upstream name
  std::string service;
  std::string method;
  HeaderList metadata;  // the initial metadata
  std::string message;  // a unary call's request
  uint32_t timeout_ms = 0;
  bool stream = false;  // a stream: messages go through grpc_send
};

class FilterVm;

// What a VM asks of the worker it runs in. Scratch VMs that only check a
// configuration have none, and their http_call fails.
class WorkerHooks {
 public:
  // Starts a call; its result is delivered later through
  // FilterVm::on_http_call_response, never from inside this call.
  virtual bool dispatch_http_call(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token,
                                  HttpCallSpec spec) = 0;
  // Foreign function resolve_lua: the address of host name `name` (4 or 16
  // bytes) in *address when known now (an IP literal, a cached answer);
  // otherwise false and the resolution runs in the background, its answer
  // delivered later through FilterVm::on_foreign_function. Also false with
  // *refused set when no more resolutions can be started.
  virtual bool resolve_name(std::shared_ptr<FilterVm> vm, uint32_t ctx, const std::string& name,
                            std::string* address, bool* refused) = 0;
  // Opens a gRPC call or stream: the worker's id for it, or 0 when the
  // target does not resolve. What comes back is delivered later through
  // FilterVm::on_grpc_* (with the ABI's unary rules applied).
  virtual uint64_t dispatch_grpc(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, GrpcCallSpec spec) = 0;
  // On an open call (the id dispatch_grpc gave): a message (end: the last),
  // a half-close, a reset after which nothing more is delivered.
  virtual bool grpc_send(uint64_t call, std::string_view message, bool end) = 0;
  virtual bool grpc_close(uint64_t call) = 0;
  virtual bool grpc_cancel(uint64_t call) = 0;

 protected:
  ~WorkerHooks() = default;
};

// What a VM is made with besides its module.
struct VmSetup {
  // The VM configuration (NAME.meta.json's vm_config): its size goes to
  // proxy_on_vm_start, its bytes are buffer 6 (Envoy's vm_config.configuration).
  std::string configuration;
  // A configuration check's own shared data and queues (its start-up must
  // not touch the live ones); nullptr: the live ones. A scratch VM also
  // counts no metric and logs at debug level only.
  SharedState* scratch = nullptr;
};

class FilterVm : public std::enable_shared_from_this<FilterVm> {
 public:
  static std::unique_ptr<FilterVm> create(std::shared_ptr<const Module> module, const Limits& limits,
                                          const VmSetup& setup, std::string* error);
  ~FilterVm();

  Abi abi() const { return abi_; }
  bool broken() const { return broken_; }
  const std::string& last_error() const { return last_error_; }

  // Creates and configures a root context for one filter configuration
  // (root_id: what plugin_root_id answers, the id SDKs register their
  // contexts under); returns its id, or 0 with *error set (on_vm_start or
  // on_configure refused, or the module trapped).
  uint32_t add_root(const std::string& filter_name, const std::string& root_id, const std::string& config,
                    std::string* error);

  void set_hooks(WorkerHooks* hooks) { hooks_ = hooks; }
  // Hands the calls and time counted since the last flush to the shared
  // per-filter counters, at most every kStatsFlushMs (the worker asks every
  // loop turn; /metrics lags by that much). now_ms 0: now, whatever the time.
  void flush_stats(uint64_t now_ms);
  static constexpr uint64_t kStatsFlushMs = 20;

  uint32_t create_http_context(uint32_t root_id, pipeline::Exchange* stream);
  Action on_request_headers(uint32_t ctx, pipeline::Exchange& s, bool end_of_stream);
  Action on_response_headers(uint32_t ctx, pipeline::Exchange& s, bool end_of_stream);
  // body is the data held for this filter so far; the filter may change it.
  // Pause means "keep buffering" (StopIteration*).
  Action on_body(uint32_t ctx, pipeline::Exchange& s, std::string& body, bool response, bool end_of_stream);
  // The trailer section arrived (s.request_trailers / response_trailers).
  // Pause is not supported for trailers: the session goes on.
  Action on_trailers(uint32_t ctx, pipeline::Exchange& s, bool response);
  void on_log(uint32_t ctx, pipeline::Exchange& s);
  void on_done_and_delete(uint32_t ctx, pipeline::Exchange& s);

  // Callbacks the worker drives. Each ends by waking the streams the filter
  // resumed or answered meanwhile.
  void on_http_call_response(uint32_t ctx, uint32_t token, HttpCallResult& result);
  void on_tick(uint32_t root);
  // An asynchronous foreign function finished: args is what the filter reads
  // as buffer 8 (resolve_lua: u8 address length, the address, the name).
  void on_foreign_function(uint32_t ctx, uint32_t function_id, const std::string& args);
  void on_queue_ready(uint32_t root, uint32_t queue_id);
  // A gRPC call's answer, piece by piece (proxy_on_grpc_receive_*,
  // proxy_on_grpc_close). last: the token is done after this callback (a
  // unary call's reply); on_grpc_close always ends it.
  void on_grpc_metadata(uint32_t ctx, uint32_t token, HeaderMap& md, bool trailing);
  void on_grpc_message(uint32_t ctx, uint32_t token, std::string& message, bool last);
  void on_grpc_close(uint32_t ctx, uint32_t token, uint32_t status, const std::string& message);

  struct TickTimer {
    uint32_t root;
    uint32_t period_ms;
    uint64_t next_ms;
  };
  std::vector<TickTimer>& tick_timers() { return ticks_; }
  struct QueueRegistration {
    uint32_t root;
    uint32_t queue_id;
    uint64_t seen = 0;  // the queue's enqueue count when last delivered
    const std::atomic<uint64_t>* enqueued = nullptr;  // the queue's count, polled lock-free
  };
  std::vector<QueueRegistration>& queue_registrations() { return queues_; }
  // An open gRPC call: the filter's token, the worker's call id.
  struct GrpcCall {
    uint32_t token;
    uint64_t call;
    bool stream;
  };

  // What a root context was configured with; its HTTP contexts point at it.
  struct RootInfo {
    std::string filter_name;
    std::string root_id;
    std::string configuration;
  };
  // Plain data, so creating and deleting one per request costs no strings.
  struct Context {
    uint32_t id = 0;
    uint32_t root = 0;              // 0 for root contexts
    const RootInfo* info = nullptr;  // its root's (root_infos_ owns them)
    pipeline::Exchange* stream = nullptr;   // HTTP contexts: the stream they belong to
  };

 private:
  FilterVm() = default;
  bool call(const char* fn, std::initializer_list<uint64_t> args, uint64_t* result) {
    return call(fn, args.begin(), args.size(), result);
  }
  bool call(const char* fn, const uint64_t* args, size_t nargs, uint64_t* result) {
    return call_at(fn_index(fn), fn, args, nargs, result);
  }
  bool call(Callback cb, std::initializer_list<uint64_t> args, uint64_t* result) {
    return call(cb, args.begin(), args.size(), result);
  }
  // Callbacks the module does not export cost a load and a compare.
  bool call(Callback cb, const uint64_t* args, size_t nargs, uint64_t* result) {
    const int index = callbacks_[static_cast<size_t>(cb)];
    if (index < 0 && !broken_) {
      if (result != nullptr) *result = 0;
      return true;  // every callback is optional
    }
    return call_at(index, callback_name(cb), args, nargs, result);
  }
  static const char* callback_name(Callback cb);
  bool call_at(int index, const char* fn, const uint64_t* args, size_t nargs, uint64_t* result);
  bool exports(Callback cb) const { return callbacks_[static_cast<size_t>(cb)] >= 0; }
  // Runs a callout callback for ctx as the ABI wants it (the root's id
  // first, then args), then wakes what it resumed.
  void callout_callback(Callback cb, Context& c, std::initializer_list<uint64_t> args);
  void forget_grpc(uint32_t token);
  Action headers_callback(Callback cb, uint32_t ctx, pipeline::Exchange& s, size_t count, bool eos);
  Context* find_context(uint32_t id);
  int fn_index(const char* fn);
  void log_output(uint32_t fd, std::string_view text);  // WASI stdout/stderr
  // Makes ctx the context the host functions act on.
  void enter(uint32_t ctx, pipeline::Exchange* s);
  void leave();
  void wake_streams();
  void resume_without_filter(Context& c);
  void fail_stream(pipeline::Exchange* s, uint32_t root_id);
  friend struct host::Access;

  std::unique_ptr<Vm> vm_;
  Abi abi_ = Abi::V0_2_1;
  bool broken_ = false;
  std::string last_error_;
  std::vector<Context> contexts_;
  std::vector<std::unique_ptr<RootInfo>> root_infos_;
  uint32_t next_id_ = 1;

  WorkerHooks* hooks_ = nullptr;
  shared::FilterStats* stats_ = nullptr;  // calls, traps and time, per filter
  uint64_t pending_calls_ = 0;            // not yet in stats_
  uint64_t pending_cycles_ = 0;
  uint64_t next_flush_ms_ = 0;
  uint32_t next_call_token_ = 1;
  std::vector<TickTimer> ticks_;
  std::vector<QueueRegistration> queues_;

  // What the current callback is about.
  uint32_t current_ctx_ = 0;
  pipeline::Exchange* stream_ = nullptr;
  const std::string* plugin_config_ = nullptr;  // during on_configure
  std::string vm_configuration_;                // buffer 6, whenever asked
  SharedState* shared_state_ = nullptr;         // the live shared data and queues, or a check's scratch
  bool scratch_ = false;                        // only checks a configuration
  HttpCallResult* call_result_ = nullptr;       // during on_http_call_response
  const std::string* foreign_args_ = nullptr;   // during on_foreign_function
  HeaderMap* grpc_metadata_ = nullptr;          // during on_grpc_receive_*_metadata
  bool grpc_trailing_ = false;                  // which of the two it is (map 5, else 4)
  const std::string* grpc_message_ = nullptr;   // during on_grpc_receive (buffer 5)
  // The gRPC calls and streams this VM's filters have open (a few at a
  // time: a vector).
  std::vector<GrpcCall> grpc_calls_;
  uint32_t callout_status_ = 0;                 // proxy_get_status: the last callout's
  std::string callout_message_;
  std::vector<pipeline::Exchange*> woken_;              // streams resumed or answered in this callback
  std::string output_[2];
  HeaderNameCache header_names_;  // names proxy_add_header_map_value checked
  static constexpr size_t kFnSlots = 64;
  struct FnSlot {
    const char* name = nullptr;  // an export name literal of this file
    int index = -1;              // its function index, -1: not exported
  };
  FnSlot fn_slots_[kFnSlots];
  int callbacks_[static_cast<size_t>(Callback::Count)];  // export index per callback, -1: none                       // WASI stdout/stderr: the unfinished line
};

}  // namespace wg::wasm

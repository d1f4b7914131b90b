#include "wasm/proxy_wasm.h"

#include <time.h>
#include <zlib.h>
#include <unistd.h>

#include <algorithm>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#include <charconv>
#include <cstring>
#include <mutex>
#include <random>
#include <unordered_map>

#include "core/log.h"
#include "http/message.h"
#include "pipeline/properties.h"
#include "shared/metrics.h"
#include "wasm/pairs.h"
#include "wasm/shared_state.h"

namespace wg::wasm {
namespace {

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

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
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

// The host functions. Each reads its arguments, checks every guest pointer,
// and answers with a proxy_status_t (or traps for what must never happen).
struct HostCalls {
  static FilterVm& self(void* host) { return *static_cast<FilterVm*>(host); }

  // Copies data into a block the module allocates, and writes its address
  // and size to the module's out-pointers (the ABI's ownership rule).
  static uint32_t give(FilterVm& f, Vm& vm, std::string_view data, uint32_t ptr_ptr, uint32_t size_ptr) {
    if (data.empty()) {
      return vm.write_u32(ptr_ptr, 0) && vm.write_u32(size_ptr, 0) ? kOk : kInvalidMemoryAccess;
    }
    int alloc = f.fn_index("proxy_on_memory_allocate");
    if (alloc < 0) alloc = f.fn_index("malloc");
    uint64_t addr = 0;
    const uint64_t size = data.size();
    if (alloc < 0 || !vm.call_raw(alloc, &size, 1, &addr)) {
      f.last_error_ = alloc < 0 ? "no allocator" : vm.last_error();
      return kInvalidMemoryAccess;
    }
    uint8_t* p = vm.memory(static_cast<uint32_t>(addr), static_cast<uint32_t>(data.size()));
    if (addr == 0 || p == nullptr) return kInvalidMemoryAccess;
    std::memcpy(p, data.data(), data.size());
    return vm.write_u32(ptr_ptr, static_cast<uint32_t>(addr)) &&
                   vm.write_u32(size_ptr, static_cast<uint32_t>(data.size()))
               ? kOk
               : kInvalidMemoryAccess;
  }

  // Header maps: 0 request headers, 1 request trailers, 2 response
  // headers, 3 response trailers, 6 and 7 the headers and trailers of the
  // http_call response being delivered. gRPC metadata is always empty.
  static HeaderMap* map(FilterVm& f, uint64_t type) {
    if (type == 0 && f.stream_ != nullptr) return &f.stream_->request_headers;
    if (type == 6) return f.call_result_ != nullptr ? &f.call_result_->headers : nullptr;
    if (type == 7) return f.call_result_ != nullptr ? &f.call_result_->trailers : nullptr;
    if (f.stream_ == nullptr) return nullptr;
    if (type == 1) return &f.stream_->request_trailers;
    if (type == 2 && f.stream_->response_phase) return &f.stream_->response_headers;
    if (type == 3 && f.stream_->response_phase) return &f.stream_->response_trailers;
    return nullptr;
  }

  static const FilterVm::Context* ctx(FilterVm& f) {
    for (const auto& c : f.contexts_) {
      if (c.id == f.current_ctx_) return &c;
    }
    return nullptr;
  }

  static const FilterVm::Context* root_of(FilterVm& f) {
    const FilterVm::Context* c = ctx(f);
    if (c == nullptr || c->root == 0) return c;
    for (const auto& r : f.contexts_) {
      if (r.id == c->root) return &r;
    }
    return nullptr;
  }

#define HOST(name) static bool name(void* host, Vm& vm, const uint64_t* a, uint64_t* r, std::string* trap)
#define UNUSED_HOST (void)host, (void)vm, (void)a, (void)r, (void)trap

  // A host function that only answers: with `value`, whatever it is asked.
  template <uint32_t value>
  HOST(answer) {
    UNUSED_HOST;
    r[0] = value;
    return true;
  }

  HOST(proxy_log) {
    UNUSED_HOST;
    std::string_view msg;
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &msg)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (a[0] > 5) {
      r[0] = kBadArgument;
      return true;
    }
    static const log::Level levels[] = {log::Level::Debug, log::Level::Debug, log::Level::Info,
                                        log::Level::Warn,  log::Level::Error, log::Level::Error};
    log::Level level = levels[a[0]];
    if (log::enabled(level)) {
      const FilterVm::Context* root = root_of(self(host));
      log::write(level, "[wasm] filter %s: %.*s", root ? root->info->filter_name.c_str() : "?", static_cast<int>(msg.size()),
                 msg.data());
    }
    r[0] = kOk;
    return true;
  }

  HOST(proxy_get_log_level) {
    UNUSED_HOST;
    // Proxy-Wasm levels: 0 trace .. 5 critical; ours start at debug.
    uint32_t level = log::enabled(log::Level::Debug) ? 1 : log::enabled(log::Level::Info) ? 2
                     : log::enabled(log::Level::Warn) ? 3 : 4;
    r[0] = vm.write_u32(static_cast<uint32_t>(a[0]), level) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  HOST(proxy_get_current_time_nanoseconds) {
    UNUSED_HOST;
    r[0] = vm.write_u64(static_cast<uint32_t>(a[0]), realtime_ns()) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  // Ticks belong to the root context of the current context.
  HOST(proxy_set_tick_period_milliseconds) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    const FilterVm::Context* root = root_of(f);
    if (root == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    uint32_t period = static_cast<uint32_t>(a[0]);
    auto& ticks = f.ticks_;
    for (auto it = ticks.begin(); it != ticks.end(); ++it) {
      if (it->root == root->id) {
        ticks.erase(it);
        break;
      }
    }
    if (period > 0) ticks.push_back({root->id, period, 0});
    r[0] = kOk;
    return true;
  }

  // Buffers: 0/1 the request/response body of the body callback in
  // progress, 4 the http_call response body, 6/7 VM and plugin configuration,
  // 8 the arguments of on_foreign_function.
  static std::string* body_buffer(FilterVm& f, uint64_t type) {
    if (type == 4) return f.call_result_ != nullptr ? &f.call_result_->body : nullptr;
    pipeline::Exchange* s = f.stream_;
    if (s == nullptr || s->body == nullptr || (type != 0 && type != 1)) return nullptr;
    return (type == 1) == s->body_is_response ? s->body : nullptr;
  }

  static std::string_view buffer(FilterVm& f, uint64_t type, bool* available) {
    *available = true;
    if (type == 6 && f.vm_config_ != nullptr) return *f.vm_config_;
    if (type == 7 && f.plugin_config_ != nullptr) return *f.plugin_config_;
    if (type == 8 && f.foreign_args_ != nullptr) return *f.foreign_args_;
    if (std::string* b = body_buffer(f, type)) return *b;
    *available = false;
    return {};
  }

  HOST(proxy_get_configuration) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    const std::string* cfg = f.plugin_config_ != nullptr ? f.plugin_config_ : f.vm_config_;
    r[0] = give(f, vm, cfg ? std::string_view(*cfg) : std::string_view(), static_cast<uint32_t>(a[0]),
                static_cast<uint32_t>(a[1]));
    return true;
  }

  HOST(proxy_get_buffer_bytes) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    if (a[0] > 8) {
      r[0] = kBadArgument;
      return true;
    }
    bool available = false;
    std::string_view data = buffer(f, a[0], &available);
    if (!available) {
      r[0] = kNotFound;
      return true;
    }
    uint64_t start = static_cast<uint32_t>(a[1]);
    uint64_t max = static_cast<uint32_t>(a[2]);
    std::string_view part = start >= data.size() ? std::string_view() : data.substr(start, max);
    r[0] = give(f, vm, part, static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]));
    return true;
  }

  HOST(proxy_get_buffer_status) {
    UNUSED_HOST;
    bool available = false;
    std::string_view data = buffer(self(host), a[0], &available);
    if (!available) {
      r[0] = a[0] > 8 ? kBadArgument : kNotFound;
      return true;
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(data.size())) &&
                   vm.write_u32(static_cast<uint32_t>(a[2]), 0)
               ? kOk
               : kInvalidMemoryAccess;
    return true;
  }

  // Replaces [start, start+size) of a body with the given bytes: size 0
  // inserts (start 0 prepends), start at or past the end appends, and
  // start 0 with size >= length replaces it all (Envoy's three cases,
  // and any range in between, as ngx_wasm_module allows).
  HOST(proxy_set_buffer_bytes) {
    UNUSED_HOST;
    std::string* b = a[0] == 4 ? nullptr : body_buffer(self(host), a[0]);
    if (b == nullptr) {
      r[0] = a[0] > 8 ? kBadArgument : kNotFound;
      return true;
    }
    std::string_view data;
    if (!vm.read_string(static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]), &data)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    size_t start = static_cast<uint32_t>(a[1]);
    size_t size = static_cast<uint32_t>(a[2]);
    if (start > b->size()) start = b->size();
    if (size > b->size() - start) size = b->size() - start;
    b->replace(start, size, data);
    r[0] = kOk;
    return true;
  }

  HOST(proxy_get_header_map_pairs) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    if (a[0] > 7) {
      r[0] = kBadArgument;
      return true;
    }
    HeaderMap* m = map(f, a[0]);
    std::string data = m != nullptr ? serialize(*m) : std::string();
    r[0] = give(f, vm, data, static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]));
    return true;
  }

  HOST(proxy_set_header_map_pairs) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    HeaderMap* m = map(f, a[0]);
    std::string_view data;
    if (m == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &data)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    HeaderList parsed;
    if (!parse_pairs(data, &parsed)) parsed.clear();  // malformed: empty map, as cpp-host
    if (!valid_headers(parsed)) {
      r[0] = kBadArgument;
      return true;
    }
    m->assign(parsed);
    r[0] = kOk;
    return true;
  }

  HOST(proxy_get_header_map_size) {
    UNUSED_HOST;
    HeaderMap* m = map(self(host), a[0]);
    if (m == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(serialized_size(*m)))
               ? kOk
               : kInvalidMemoryAccess;
    return true;
  }

  HOST(proxy_get_header_map_value) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    HeaderMap* m = map(f, a[0]);
    std::string_view key;
    if (a[0] > 7) {
      r[0] = kBadArgument;
      return true;
    }
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &key)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (const HeaderMap::Entry* e = m != nullptr ? m->find(key) : nullptr) {
      r[0] = give(f, vm, e->value, static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]));
      return true;
    }
    // 0.1.0 answers a missing key with an empty value.
    if (f.abi_ == Abi::V0_1_0) {
      r[0] = give(f, vm, {}, static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]));
    } else {
      r[0] = kNotFound;
    }
    return true;
  }

  // What a filter may put in a header map: a token name (or a pseudo-header
  // ":name") and a value without CR, LF or NUL, so nothing a filter writes
  // can split or forge a head on the wire.
  static bool valid_value(std::string_view v) {
    for (char c : v) {
      if (c == '\r' || c == '\n' || c == '\0') return false;
    }
    return true;
  }

  // A token, or ':' and a token (or ":" alone).
  static bool valid_name(std::string_view k) {
    if (k.empty()) return false;
    std::string_view name = k[0] == ':' ? k.substr(1) : k;
    return name.empty() || http::is_token(name);
  }

  static bool valid_header(std::string_view k, std::string_view v) { return valid_name(k) && valid_value(v); }

  static bool valid_headers(const HeaderList& list) {
    for (const auto& [k, v] : list) {
      if (!valid_header(k, v)) return false;
    }
    return true;
  }

  static bool read_kv(Vm& vm, const uint64_t* a, std::string_view* k, std::string_view* v) {
    return vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), k) &&
           vm.read_string(static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]), v);
  }

  // valid_name() through the instance's cache of names already checked;
  // *id: the name's HeaderId.
  static bool checked_name(FilterVm& f, std::string_view k, http::HeaderId* id) {
    if (f.header_names_.find(k, id)) return true;
    if (!valid_name(k)) return false;
    *id = http::classify_header(k);
    f.header_names_.put(k, *id);
    return true;
  }

  HOST(proxy_add_header_map_value) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    HeaderMap* m = map(f, a[0]);
    std::string_view k, v;
    http::HeaderId id;
    if (m == nullptr) {
      r[0] = kBadArgument;
    } else if (!read_kv(vm, a, &k, &v)) {
      r[0] = kInvalidMemoryAccess;
    } else if (!checked_name(f, k, &id) || !valid_value(v)) {
      r[0] = kBadArgument;
    } else {
      m->add(k, v, id);
      r[0] = kOk;
    }
    return true;
  }

  HOST(proxy_replace_header_map_value) {
    UNUSED_HOST;
    HeaderMap* m = map(self(host), a[0]);
    std::string_view k, v;
    if (m == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    if (!read_kv(vm, a, &k, &v)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (!valid_header(k, v)) {
      r[0] = kBadArgument;
      return true;
    }
    m->replace(k, v);
    r[0] = kOk;
    return true;
  }

  HOST(proxy_remove_header_map_value) {
    UNUSED_HOST;
    HeaderMap* m = map(self(host), a[0]);
    std::string_view k;
    if (m == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &k)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    m->remove(k);
    r[0] = kOk;
    return true;
  }

  HOST(proxy_send_local_response) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    if (f.stream_ == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    std::string_view details, body, headers;
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &details) ||
        !vm.read_string(static_cast<uint32_t>(a[3]), static_cast<uint32_t>(a[4]), &body) ||
        !vm.read_string(static_cast<uint32_t>(a[5]), static_cast<uint32_t>(a[6]), &headers)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    uint32_t status = static_cast<uint32_t>(a[0]);
    if (status < 100 || status > 999) {
      r[0] = kBadArgument;
      return true;
    }
    HeaderList list;
    if (!parse_pairs(headers, &list) || !valid_headers(list)) {
      r[0] = kBadArgument;
      return true;
    }
    f.stream_->local_reply = true;
    f.stream_->local_status = static_cast<int>(status);
    f.stream_->local_body.assign(body);
    f.stream_->local_headers = std::move(list);
    f.woken_.push_back(f.stream_);
    r[0] = kOk;
    return true;
  }

  // Stream types: 0 request, 1 response (2/3, TCP streams, are not ours).
  static uint32_t resume(FilterVm& f, uint64_t stream_type, bool close) {
    if (f.stream_ == nullptr) return kBadArgument;
    if (stream_type > 3) return kBadArgument;
    if (stream_type > 1) return kUnimplemented;
    if (close) {
      f.stream_->close_requested = true;
    } else if (stream_type == 0) {
      f.stream_->resume_request = true;
    } else {
      f.stream_->resume_response = true;
    }
    f.woken_.push_back(f.stream_);
    return kOk;
  }

  HOST(proxy_continue_stream) {
    UNUSED_HOST;
    r[0] = resume(self(host), a[0], false);
    return true;
  }

  HOST(proxy_close_stream) {
    UNUSED_HOST;
    r[0] = resume(self(host), a[0], true);
    return true;
  }

  HOST(proxy_continue_request) {
    UNUSED_HOST;
    r[0] = resume(self(host), 0, false);
    return true;
  }

  HOST(proxy_continue_response) {
    UNUSED_HOST;
    r[0] = resume(self(host), 1, false);
    return true;
  }


  // gRPC callouts need gRPC (HTTP/2) upstreams, which the gateway does not
  // have yet. Every upstream is unknown, and Envoy's answer to an unknown
  // upstream is ParseFailure; no call or stream exists, so a token is not
  // found. A filter gets a status it can handle rather than a trap (which
  // is what ngx_wasm_module gives it).
  HOST(proxy_grpc_open) {
    UNUSED_HOST;
    WG_LOG(Debug, "a filter asked for a gRPC call: not supported yet");
    r[0] = kParseFailure;
    return true;
  }


  HOST(proxy_set_effective_context) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    FilterVm::Context* c = f.find_context(static_cast<uint32_t>(a[0]));
    if (c == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    f.current_ctx_ = c->id;
    f.stream_ = c->stream;
    r[0] = kOk;
    return true;
  }

  // Properties: Envoy's attribute paths (segments separated by NUL). The
  // request's are the pipeline's (pipeline/properties.h); the plugin's are
  // this filter's.
  static bool property(FilterVm& f, std::string_view path, std::string* out) {
    std::string key(path);
    for (auto& c : key) {
      if (c == '\0') c = '.';
    }
    if (key == "plugin_name" || key == "plugin_root_id" || key == "plugin_vm_id") {
      const FilterVm::Context* root = root_of(f);
      *out = root ? root->info->filter_name : "";
      return true;
    }
    return f.stream_ != nullptr && pipeline::get_property(*f.stream_, key, out);
  }

  HOST(proxy_get_property) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view path;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &path)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    std::string value;
    if (!property(f, path, &value)) {
      r[0] = kNotFound;
      return true;
    }
    r[0] = give(f, vm, value, static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]));
    return true;
  }

  // Values a filter sets live with the request (filter state, in Envoy's
  // words) and are visible to every filter of the chain; the host's own
  // attributes cannot be overwritten.
  HOST(proxy_set_property) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view path, value;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &path) ||
        !vm.read_string(static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]), &value)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (f.stream_ == nullptr || path.empty()) {
      r[0] = kNotFound;
      return true;
    }
    std::string key(path);
    for (auto& c : key) {
      if (c == '\0') c = '.';
    }
    if (!pipeline::property_writable(key)) {
      r[0] = kBadArgument;
      return true;
    }
    f.stream_->properties[key].assign(value);
    r[0] = kOk;
    return true;
  }

  HOST(proxy_get_shared_data) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view key;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &key)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    std::string value;
    uint32_t cas = 0;
    if (!SharedData::instance().get(key, &value, &cas)) {
      r[0] = kNotFound;
      return true;
    }
    uint32_t st = give(f, vm, value, static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]));
    if (st == kOk && !vm.write_u32(static_cast<uint32_t>(a[4]), cas)) st = kInvalidMemoryAccess;
    r[0] = st;
    return true;
  }

  HOST(proxy_set_shared_data) {
    UNUSED_HOST;
    std::string_view key, value;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &key) ||
        !vm.read_string(static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]), &value)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    r[0] = SharedData::instance().set(key, value, static_cast<uint32_t>(a[4])) ? kOk : kCasMismatch;
    return true;
  }

  // Queues: one namespace (vm_id "") for every filter, as our VMs have no
  // separate ids; on_queue_ready goes to the root contexts that registered.
  HOST(proxy_register_shared_queue) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view name;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &name)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    const FilterVm::Context* root = root_of(f);
    if (root == nullptr) {
      r[0] = kBadArgument;
      return true;
    }
    uint32_t id = SharedQueues::instance().register_queue("", name);
    bool known = false;
    for (auto& q : f.queues_) known = known || (q.queue_id == id && q.root == root->id);
    if (!known) {
      auto& queues = SharedQueues::instance();
      f.queues_.push_back({root->id, id, queues.enqueued(id), queues.enqueued_counter(id)});
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[2]), id) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  HOST(proxy_resolve_shared_queue) {
    UNUSED_HOST;
    std::string_view vm_id, name;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &vm_id) ||
        !vm.read_string(static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]), &name)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    uint32_t id = SharedQueues::instance().resolve("", name);
    if (id == 0) {
      r[0] = kNotFound;
      return true;
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[4]), id) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  HOST(proxy_enqueue_shared_queue) {
    UNUSED_HOST;
    std::string_view data;
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &data)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    auto res = SharedQueues::instance().enqueue(static_cast<uint32_t>(a[0]), data);
    r[0] = res == SharedQueues::Result::Ok ? kOk : kNotFound;
    return true;
  }

  HOST(proxy_dequeue_shared_queue) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string data;
    auto res = SharedQueues::instance().dequeue(static_cast<uint32_t>(a[0]), &data);
    if (res != SharedQueues::Result::Ok) {
      r[0] = res == SharedQueues::Result::Empty ? kEmpty : kNotFound;
      return true;
    }
    r[0] = give(f, vm, data, static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]));
    return true;
  }

  // Metrics live in the process-wide registry, named per filter.
  HOST(proxy_define_metric) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view name;
    if (!vm.read_string(static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]), &name)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (a[0] > 2 || name.empty()) {
      r[0] = kBadArgument;
      return true;
    }
    const FilterVm::Context* root = root_of(f);
    bool ok = false;
    uint32_t id = shared::Metrics::instance().define(static_cast<shared::MetricType>(a[0]),
                                                     root ? root->info->filter_name : "", name, &ok);
    if (!ok) {
      r[0] = kBadArgument;
      return true;
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[3]), id) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  HOST(proxy_increment_metric) {
    UNUSED_HOST;
    bool ok = shared::Metrics::instance().increment(static_cast<uint32_t>(a[0]), static_cast<int64_t>(a[1]));
    r[0] = ok ? kOk : kBadArgument;
    return true;
  }

  HOST(proxy_record_metric) {
    UNUSED_HOST;
    r[0] = shared::Metrics::instance().record(static_cast<uint32_t>(a[0]), a[1]) ? kOk : kBadArgument;
    return true;
  }

  HOST(proxy_get_metric) {
    UNUSED_HOST;
    uint64_t value = 0;
    if (!shared::Metrics::instance().get(static_cast<uint32_t>(a[0]), &value)) {
      r[0] = kBadArgument;
      return true;
    }
    r[0] = vm.write_u64(static_cast<uint32_t>(a[1]), value) ? kOk : kInvalidMemoryAccess;
    return true;
  }

  // proxy_http_call(upstream, headers, body, trailers, timeout_ms, *token):
  // the worker runs the call; its answer comes in on_http_call_response.
  HOST(proxy_http_call) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    std::string_view target, headers, body, trailers;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &target) ||
        !vm.read_string(static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]), &headers) ||
        !vm.read_string(static_cast<uint32_t>(a[4]), static_cast<uint32_t>(a[5]), &body) ||
        !vm.read_string(static_cast<uint32_t>(a[6]), static_cast<uint32_t>(a[7]), &trailers)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    HttpCallSpec spec;
    spec.target.assign(target);
    spec.body.assign(body);
    spec.timeout_ms = static_cast<uint32_t>(a[8]);
    bool has_path = false, has_method = false;
    if (!parse_pairs(headers, &spec.headers) || !valid_headers(spec.headers) || target.empty()) {
      r[0] = kBadArgument;
      return true;
    }
    for (const auto& [k, v] : spec.headers) {
      has_path = has_path || (k == ":path" && !v.empty());
      has_method = has_method || (k == ":method" && !v.empty());
    }
    if (!has_path || !has_method) {
      r[0] = kBadArgument;
      return true;
    }
    if (f.hooks_ == nullptr) {
      r[0] = kInternalFailure;
      return true;
    }
    uint32_t token = f.next_call_token_++;
    if (!vm.write_u32(static_cast<uint32_t>(a[9]), token)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (!f.hooks_->dispatch_http_call(f.shared_from_this(), f.current_ctx_, token, std::move(spec))) {
      r[0] = kBadArgument;  // unknown target
      return true;
    }
    r[0] = kOk;
    return true;
  }

  // Foreign functions, by name: Envoy's "compress" and "uncompress" (zlib).
  // Unknown names answer NotFound, as Envoy does.
  static bool foreign(std::string_view name, std::string_view arg, std::string* out) {
    if (name == "compress") {
      uLongf len = compressBound(static_cast<uLong>(arg.size()));
      out->resize(len);
      if (compress2(reinterpret_cast<Bytef*>(out->data()), &len, reinterpret_cast<const Bytef*>(arg.data()),
                    static_cast<uLong>(arg.size()), Z_DEFAULT_COMPRESSION) != Z_OK) {
        return false;
      }
      out->resize(len);
      return true;
    }
    // uncompress: grow the output until it fits, up to 64 MiB.
    for (size_t cap = std::max<size_t>(arg.size() * 4, 1024); cap <= (64u << 20); cap *= 2) {
      uLongf len = static_cast<uLongf>(cap);
      out->resize(cap);
      int rc = uncompress(reinterpret_cast<Bytef*>(out->data()), &len, reinterpret_cast<const Bytef*>(arg.data()),
                          static_cast<uLong>(arg.size()));
      if (rc == Z_OK) {
        out->resize(len);
        return true;
      }
      if (rc != Z_BUF_ERROR) return false;
    }
    return false;
  }

  // resolve_lua (the name ngx_wasm_module gave it, so Kong filters work
  // unchanged): the address of a host name, now when it is an IP literal or
  // cached, else an empty result now and proxy_on_foreign_function(ctx, 0,
  // size) later, with buffer 8 = u8 address length, the address, the name
  // (length 0: it did not resolve).
  static bool resolve_lua(FilterVm& f, Vm& vm, std::string_view arg, const uint64_t* a, uint64_t* r) {
    if (arg.empty() || arg.size() > 255) {
      r[0] = kBadArgument;
      return true;
    }
    std::string name(arg), address;
    bool refused = false;
    if (f.hooks_ == nullptr) {
      r[0] = kInternalFailure;  // a scratch VM checking a config
      return true;
    }
    f.hooks_->resolve_name(f.shared_from_this(), f.current_ctx_, name, &address, &refused);
    if (refused) {
      r[0] = kInternalFailure;
      return true;
    }
    // An empty address: the answer comes later, through on_foreign_function.
    r[0] = give(f, vm, address, static_cast<uint32_t>(a[4]), static_cast<uint32_t>(a[5]));
    return true;
  }

  HOST(proxy_call_foreign_function) {
    UNUSED_HOST;
    std::string_view name, arg;
    if (!vm.read_string(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(a[1]), &name) ||
        !vm.read_string(static_cast<uint32_t>(a[2]), static_cast<uint32_t>(a[3]), &arg)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    if (name == "resolve_lua") return resolve_lua(self(host), vm, arg, a, r);
    if (name != "compress" && name != "uncompress") {
      r[0] = kNotFound;
      return true;
    }
    std::string out;
    if (!foreign(name, arg, &out)) {
      r[0] = kBadArgument;
      return true;
    }
    r[0] = give(self(host), vm, out, static_cast<uint32_t>(a[4]), static_cast<uint32_t>(a[5]));
    return true;
  }

  // The status of the last callout, as Envoy keeps it: an http_call that
  // got no answer is (11 BrokenConnection, "reset"); one that did, (0, "").
  HOST(proxy_get_status) {
    UNUSED_HOST;
    FilterVm& f = self(host);
    if (!vm.write_u32(static_cast<uint32_t>(a[0]), f.callout_status_)) {
      r[0] = kInvalidMemoryAccess;
      return true;
    }
    r[0] = give(f, vm, f.callout_message_, static_cast<uint32_t>(a[1]), static_cast<uint32_t>(a[2]));
    return true;
  }


  // --- WASI: what SDK runtimes actually import.
  HOST(wasi_fd_write) {
    UNUSED_HOST;
    // (fd, iovs, iovs_len, nwritten): stdout/stderr go to the error log.
    uint32_t fd = static_cast<uint32_t>(a[0]);
    if (fd != 1 && fd != 2) {
      r[0] = kWasiBadf;
      return true;
    }
    std::string text;
    for (uint32_t i = 0; i < static_cast<uint32_t>(a[2]); ++i) {
      uint8_t* iov = vm.memory(static_cast<uint32_t>(a[1]) + i * 8, 8);
      if (iov == nullptr) {
        r[0] = kWasiInval;
        return true;
      }
      uint32_t p, n;
      std::memcpy(&p, iov, 4);
      std::memcpy(&n, iov + 4, 4);
      std::string_view part;
      if (!vm.read_string(p, n, &part)) {
        r[0] = kWasiInval;
        return true;
      }
      text.append(part);
    }
    // Runtimes write a line in many pieces (Go's panics byte by byte): log
    // whole lines; FilterVm::call flushes what is left when the call ends.
    FilterVm& f = self(host);
    std::string& line = f.output_[fd - 1];
    line.append(text);
    size_t nl;
    while ((nl = line.find('\n')) != std::string::npos) {
      f.log_output(fd, std::string_view(line).substr(0, nl));
      line.erase(0, nl + 1);
    }
    if (line.size() > 4096) {
      f.log_output(fd, line);
      line.clear();
    }
    uint32_t written = 0;
    for (uint32_t i = 0; i < static_cast<uint32_t>(a[2]); ++i) {
      uint8_t* iov = vm.memory(static_cast<uint32_t>(a[1]) + i * 8, 8);
      uint32_t n;
      std::memcpy(&n, iov + 4, 4);
      written += n;
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[3]), written) ? kWasiSuccess : kWasiInval;
    return true;
  }

  HOST(wasi_clock_time_get) {
    UNUSED_HOST;
    timespec ts;
    clock_gettime(a[0] == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
    r[0] = vm.write_u64(static_cast<uint32_t>(a[2]), ns) ? kWasiSuccess : kWasiInval;
    return true;
  }

  HOST(wasi_clock_res_get) {
    UNUSED_HOST;
    r[0] = vm.write_u64(static_cast<uint32_t>(a[1]), 1000) ? kWasiSuccess : kWasiInval;
    return true;
  }

  HOST(wasi_random_get) {
    UNUSED_HOST;
    uint32_t len = static_cast<uint32_t>(a[1]);
    uint8_t* p = len > 65536 ? nullptr : vm.memory(static_cast<uint32_t>(a[0]), len);
    if (p == nullptr) {
      r[0] = kWasiInval;
      return true;
    }
    thread_local std::mt19937_64 rng{std::random_device{}()};
    for (uint32_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(rng());
    r[0] = kWasiSuccess;
    return true;
  }

  // environ_sizes_get / args_sizes_get: zero entries, zero bytes.
  HOST(wasi_sizes_zero) {
    UNUSED_HOST;
    r[0] = vm.write_u32(static_cast<uint32_t>(a[0]), 0) && vm.write_u32(static_cast<uint32_t>(a[1]), 0) ? kWasiSuccess
                                                                                                        : kWasiInval;
    return true;
  }



  HOST(wasi_fd_fdstat_get) {
    UNUSED_HOST;
    // A character device with no rights beyond writing, for stdout/stderr.
    uint8_t* p = vm.memory(static_cast<uint32_t>(a[1]), 24);
    if (p == nullptr) {
      r[0] = kWasiInval;
      return true;
    }
    std::memset(p, 0, 24);
    p[0] = 2;  // filetype: character_device
    r[0] = a[0] <= 2 ? kWasiSuccess : kWasiBadf;
    return true;
  }

  HOST(wasi_proc_exit) {
    UNUSED_HOST;
    *trap = "proc_exit(" + std::to_string(a[0]) + ")";
    return false;
  }

  // poll_oneoff(in, out, nsubscriptions, *nevents): every subscription is
  // reported ready at once. Filters must not block a worker; Go's runtime
  // only uses it to sleep (and dies with "panic during panic" if it fails).
  HOST(wasi_poll_oneoff) {
    UNUSED_HOST;
    uint32_t n = static_cast<uint32_t>(a[2]);
    uint8_t* in = n > 1024 ? nullptr : vm.memory(static_cast<uint32_t>(a[0]), n * 48);
    uint8_t* out = n > 1024 ? nullptr : vm.memory(static_cast<uint32_t>(a[1]), n * 32);
    if (in == nullptr || out == nullptr) {
      r[0] = kWasiInval;
      return true;
    }
    for (uint32_t i = 0; i < n; ++i) {
      uint8_t* ev = out + i * 32;
      std::memset(ev, 0, 32);
      std::memcpy(ev, in + i * 48, 8);  // userdata
      ev[10] = in[i * 48 + 8];          // type = the subscription's tag
    }
    r[0] = vm.write_u32(static_cast<uint32_t>(a[3]), n) ? kWasiSuccess : kWasiInval;
    return true;
  }


#undef HOST
#undef UNUSED_HOST

  static std::vector<HostFunc> table() {
    std::vector<HostFunc> t = {
        {"env", "proxy_log", "iii", "i", proxy_log},
        {"env", "proxy_get_log_level", "i", "i", proxy_get_log_level},
        {"env", "proxy_get_current_time_nanoseconds", "i", "i", proxy_get_current_time_nanoseconds},
        {"env", "proxy_set_tick_period_milliseconds", "i", "i", proxy_set_tick_period_milliseconds},
        {"env", "proxy_get_configuration", "ii", "i", proxy_get_configuration},
        {"env", "proxy_get_buffer_bytes", "iiiii", "i", proxy_get_buffer_bytes},
        {"env", "proxy_get_buffer_status", "iii", "i", proxy_get_buffer_status},
        {"env", "proxy_set_buffer_bytes", "iiiii", "i", proxy_set_buffer_bytes},
        {"env", "proxy_get_header_map_pairs", "iii", "i", proxy_get_header_map_pairs},
        {"env", "proxy_set_header_map_pairs", "iii", "i", proxy_set_header_map_pairs},
        {"env", "proxy_get_header_map_size", "ii", "i", proxy_get_header_map_size},
        {"env", "proxy_get_header_map_value", "iiiii", "i", proxy_get_header_map_value},
        {"env", "proxy_add_header_map_value", "iiiii", "i", proxy_add_header_map_value},
        {"env", "proxy_replace_header_map_value", "iiiii", "i", proxy_replace_header_map_value},
        {"env", "proxy_remove_header_map_value", "iii", "i", proxy_remove_header_map_value},
        {"env", "proxy_send_local_response", "iiiiiiii", "i", proxy_send_local_response},
        {"env", "proxy_continue_stream", "i", "i", proxy_continue_stream},
        {"env", "proxy_close_stream", "i", "i", proxy_close_stream},
        {"env", "proxy_continue_request", "", "i", proxy_continue_request},
        {"env", "proxy_continue_response", "", "i", proxy_continue_response},
        {"env", "proxy_clear_route_cache", "", "i", answer<kOk>},
        {"env", "proxy_done", "", "i", answer<kOk>},
        {"env", "proxy_set_effective_context", "i", "i", proxy_set_effective_context},
        {"env", "proxy_get_property", "iiii", "i", proxy_get_property},
        {"env", "proxy_set_property", "iiii", "i", proxy_set_property},
        {"env", "proxy_get_shared_data", "iiiii", "i", proxy_get_shared_data},
        {"env", "proxy_set_shared_data", "iiiii", "i", proxy_set_shared_data},
        {"env", "proxy_register_shared_queue", "iii", "i", proxy_register_shared_queue},
        {"env", "proxy_resolve_shared_queue", "iiiii", "i", proxy_resolve_shared_queue},
        {"env", "proxy_enqueue_shared_queue", "iii", "i", proxy_enqueue_shared_queue},
        {"env", "proxy_dequeue_shared_queue", "iii", "i", proxy_dequeue_shared_queue},
        {"env", "proxy_define_metric", "iiii", "i", proxy_define_metric},
        {"env", "proxy_increment_metric", "iI", "i", proxy_increment_metric},
        {"env", "proxy_record_metric", "iI", "i", proxy_record_metric},
        {"env", "proxy_get_metric", "ii", "i", proxy_get_metric},
        {"env", "proxy_http_call", "iiiiiiiiii", "i", proxy_http_call},
        {"env", "proxy_call_foreign_function", "iiiiii", "i", proxy_call_foreign_function},
        {"env", "proxy_get_status", "iii", "i", proxy_get_status},
        {"env", "proxy_grpc_call", "iiiiiiiiiiii", "i", proxy_grpc_open},
        {"env", "proxy_grpc_stream", "iiiiiiiii", "i", proxy_grpc_open},
        {"env", "proxy_grpc_send", "iiii", "i", answer<kNotFound>},
        {"env", "proxy_grpc_cancel", "i", "i", answer<kNotFound>},
        {"env", "proxy_grpc_close", "i", "i", answer<kNotFound>},
    };
    for (const char* wasi : {"wasi_snapshot_preview1", "wasi_unstable"}) {
      std::vector<HostFunc> w = {
          {wasi, "fd_write", "iiii", "i", wasi_fd_write},
          {wasi, "fd_read", "iiii", "i", answer<kWasiBadf>},
          {wasi, "fd_close", "i", "i", answer<kWasiBadf>},
          {wasi, "fd_seek", "iIii", "i", answer<kWasiBadf>},
          {wasi, "fd_fdstat_get", "ii", "i", wasi_fd_fdstat_get},
          {wasi, "fd_fdstat_set_flags", "ii", "i", answer<kWasiNosys>},
          {wasi, "fd_prestat_get", "ii", "i", answer<kWasiBadf>},
          {wasi, "fd_prestat_dir_name", "iii", "i", answer<kWasiBadf>},
          {wasi, "clock_time_get", "iIi", "i", wasi_clock_time_get},
          {wasi, "clock_res_get", "ii", "i", wasi_clock_res_get},
          {wasi, "random_get", "ii", "i", wasi_random_get},
          {wasi, "environ_sizes_get", "ii", "i", wasi_sizes_zero},
          {wasi, "environ_get", "ii", "i", answer<kWasiSuccess>},
          {wasi, "args_sizes_get", "ii", "i", wasi_sizes_zero},
          {wasi, "args_get", "ii", "i", answer<kWasiSuccess>},
          {wasi, "sched_yield", "", "i", answer<kWasiSuccess>},
          {wasi, "poll_oneoff", "iiii", "i", wasi_poll_oneoff},
          {wasi, "proc_exit", "i", "", wasi_proc_exit},
      };
      t.insert(t.end(), w.begin(), w.end());
    }
    return t;
  }
};

namespace {
// In the order of enum Callback.
constexpr const char* kCallbackNames[] = {
    "proxy_on_context_create",  "proxy_on_vm_start",          "proxy_on_configure",
    "proxy_on_request_headers", "proxy_on_request_body",      "proxy_on_request_trailers",
    "proxy_on_response_headers", "proxy_on_response_body",    "proxy_on_response_trailers",
    "proxy_on_log",             "proxy_on_done",              "proxy_on_delete",
    "proxy_on_http_call_response", "proxy_on_tick",           "proxy_on_queue_ready",
    "proxy_on_foreign_function",
};
static_assert(std::size(kCallbackNames) == static_cast<size_t>(Callback::Count));
}  // namespace

std::unique_ptr<FilterVm> FilterVm::create(std::shared_ptr<const Module> module, const Limits& limits,
                                           std::string* error) {
  auto f = std::unique_ptr<FilterVm>(new FilterVm());
  if (!detect_abi(*module, &f->abi_)) {
    *error = "missing or unknown Proxy-Wasm ABI version (no proxy_abi_version_* export)";
    return nullptr;
  }
  if (!module->exports_function("proxy_on_memory_allocate") && !module->exports_function("malloc")) {
    *error = "module exports neither proxy_on_memory_allocate nor malloc";
    return nullptr;
  }
  f->vm_ = Vm::create(module, HostCalls::table(), f.get(), limits, error);
  if (!f->vm_) return nullptr;
  f->stats_ = shared::Metrics::instance().stats_for(module->name());
  for (size_t i = 0; i < static_cast<size_t>(Callback::Count); ++i) {
    f->callbacks_[i] = f->vm_->function_index(kCallbackNames[i]);
  }
  f->wants_request_body_ = f->exports(Callback::RequestBody) || f->exports(Callback::RequestTrailers);
  f->wants_response_body_ = f->exports(Callback::ResponseBody) || f->exports(Callback::ResponseTrailers);
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

uint32_t FilterVm::add_root(const std::string& filter_name, const std::string& config, std::string* error) {
  root_infos_.push_back(std::make_unique<RootInfo>(RootInfo{filter_name, config}));
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
  static const std::string kEmptyVmConfig;
  vm_config_ = &kEmptyVmConfig;
  bool started = call(Callback::VmStart, {root.id, 0}, &ok);
  vm_config_ = nullptr;
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
  WG_LOG(Info, "[wasm] filter %s (%s): %.*s", root ? root->info->filter_name.c_str() : vm_->module().name().c_str(),
         fd == 1 ? "stdout" : "stderr", static_cast<int>(text.size()), text.data());
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
  return headers_callback(Callback::RequestHeaders, ctx, s, s.request_headers.size(), eos);
}

Action FilterVm::on_response_headers(uint32_t ctx, pipeline::Exchange& s, bool eos) {
  return headers_callback(Callback::ResponseHeaders, ctx, s, s.response_headers.size(), eos);
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

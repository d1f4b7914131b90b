// wasmgate SDK for Proxy-Wasm filters in C++ (ABI 0.2.1): a thin layer over
// proxy_wasm.h, header-only, C++20 or later, no exceptions or RTTI needed.
//
// A filter derives from pw::RootContext (one per filter configuration) and
// pw::HttpContext (one per request), overrides the callbacks it needs, and
// registers both once, in one source file:
//
//   #include "proxy_wasm.hpp"
//   struct Root : pw::RootContext {
//     using RootContext::RootContext;
//     std::string tag;
//     bool onConfigure(size_t) override { tag = configuration(); return true; }
//   };
//   struct Http : pw::HttpContext {
//     Http(uint32_t id, Root* root) : HttpContext(id, root), root_(root) {}
//     pw::Action onRequestHeaders(uint32_t, bool) override {
//       pw::addHeader(PW_REQUEST_HEADERS, "x-tag", root_->tag);
//       return PW_CONTINUE;
//     }
//     Root* root_;
//   };
//   PW_REGISTER(Root, Http)
//
// PW_REGISTER defines the proxy_on_* exports; they create and delete the
// context objects and dispatch each callback by context id. HTTP callouts
// made with ContextBase::httpCall come back to the onHttpCallResponse of the
// context that made them, with the effective context already switched to it
// (so headers of its paused request can be edited and it can be resumed).
//
// Build (see filters/cpp/build.sh):
//   clang++-19 --target=wasm32-wasi -mexec-model=reactor -std=c++20 -O2 \
//     -fno-exceptions -fno-rtti -I sdk -o filter.wasm filter.cc
//
// The helpers below wrap the host functions with std::string_view in and
// std::string / std::optional<std::string> out. Enums, status codes and
// actions are the C ones (PW_OK, PW_CONTINUE, PW_REQUEST_HEADERS, ...).
// TCP and gRPC callbacks are not dispatched (the C API has them).
#ifndef WASMGATE_PROXY_WASM_HPP
#define WASMGATE_PROXY_WASM_HPP

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy_wasm.h"

namespace pw {

using Status = pw_status;
using Action = pw_action;
using LogLevel = pw_log_level;
using MapType = pw_map;
using BufferType = pw_buffer;
using StreamType = pw_stream;
using MetricType = pw_metric_type;

// Header lists: owned (what the host hands back) and borrowed (what you pass).
using Pairs = std::vector<std::pair<std::string, std::string>>;
using PairsView = std::vector<std::pair<std::string_view, std::string_view>>;

namespace detail {
// Takes a block the host allocated (malloc) into a std::string.
inline std::string take(char* ptr, size_t size) {
  std::string s(ptr ? ptr : "", ptr ? size : 0);
  ::free(ptr);
  return s;
}
inline std::string path(std::initializer_list<std::string_view> segments) {
  std::string p;
  bool first = true;
  for (auto s : segments) {
    if (!first) p.push_back('\0');
    first = false;
    p.append(s);
  }
  return p;
}
}  // namespace detail

// ------------------------------------------------------------ free helpers

inline void log(LogLevel level, std::string_view msg) { proxy_log(level, msg.data(), msg.size()); }
inline LogLevel logLevel() { return pw_get_log_level(); }
inline uint64_t nowNanoseconds() { return pw_now_ns(); }
inline Status setTickPeriod(uint32_t ms) { return pw_set_tick_period(ms); }

// The ABI's map format, both ways (parse: empty on malformed input).
inline std::string serializePairs(const PairsView& pairs) {
  std::string out(4 + 8 * pairs.size(), '\0');
  uint32_t n = static_cast<uint32_t>(pairs.size());
  std::memcpy(&out[0], &n, 4);
  for (size_t i = 0; i < pairs.size(); ++i) {
    uint32_t k = static_cast<uint32_t>(pairs[i].first.size()), v = static_cast<uint32_t>(pairs[i].second.size());
    std::memcpy(&out[4 + 8 * i], &k, 4);
    std::memcpy(&out[8 + 8 * i], &v, 4);
  }
  for (const auto& [k, v] : pairs) {
    out.append(k);
    out.push_back('\0');
    out.append(v);
    out.push_back('\0');
  }
  return out;
}

inline Pairs parsePairs(std::string_view data) {
  Pairs out;
  if (data.size() < 4) return out;
  uint32_t n;
  std::memcpy(&n, data.data(), 4);
  if (4 + 8 * static_cast<uint64_t>(n) > data.size()) return out;
  size_t pos = 4 + 8 * static_cast<size_t>(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t k, v;
    std::memcpy(&k, data.data() + 4 + 8 * i, 4);
    std::memcpy(&v, data.data() + 8 + 8 * i, 4);
    if (static_cast<uint64_t>(pos) + k + v + 2 > data.size()) return {};
    out.emplace_back(std::string(data.substr(pos, k)), std::string(data.substr(pos + k + 1, v)));
    pos += k + v + 2;
  }
  return out;
}

// Buffers: nullopt when the buffer is not available in this callback.
inline std::optional<std::string> getBuffer(BufferType type, size_t start = 0, size_t max = 0x7fffffff) {
  char* ptr = nullptr;
  size_t size = 0;
  if (proxy_get_buffer_bytes(type, static_cast<uint32_t>(start), static_cast<uint32_t>(max), &ptr, &size) != PW_OK) {
    ::free(ptr);
    return std::nullopt;
  }
  return detail::take(ptr, size);
}
// Replaces size bytes at start with data: (0, 0) prepends, (len, 0)
// appends, (0, len) replaces everything.
inline Status setBuffer(BufferType type, size_t start, size_t size, std::string_view data) {
  return pw_set_buffer(type, start, size, data.data(), data.size());
}

// Header maps.
inline std::optional<std::string> getHeader(MapType map, std::string_view key) {
  char* ptr = nullptr;
  size_t size = 0;
  if (proxy_get_header_map_value(map, key.data(), key.size(), &ptr, &size) != PW_OK) {
    ::free(ptr);
    return std::nullopt;
  }
  return detail::take(ptr, size);
}
inline Status addHeader(MapType map, std::string_view key, std::string_view value) {
  return static_cast<Status>(proxy_add_header_map_value(map, key.data(), key.size(), value.data(), value.size()));
}
inline Status replaceHeader(MapType map, std::string_view key, std::string_view value) {
  return static_cast<Status>(proxy_replace_header_map_value(map, key.data(), key.size(), value.data(), value.size()));
}
inline Status removeHeader(MapType map, std::string_view key) {
  return static_cast<Status>(proxy_remove_header_map_value(map, key.data(), key.size()));
}
inline Pairs getHeaderPairs(MapType map) {
  char* ptr = nullptr;
  size_t size = 0;
  if (proxy_get_header_map_pairs(map, &ptr, &size) != PW_OK) {
    ::free(ptr);
    return {};
  }
  return parsePairs(detail::take(ptr, size));
}
inline Status setHeaderPairs(MapType map, const PairsView& pairs) {
  std::string data = serializePairs(pairs);
  return static_cast<Status>(proxy_set_header_map_pairs(map, data.data(), data.size()));
}

// Properties: path segments, e.g. getProperty({"request", "path"}).
inline std::optional<std::string> getProperty(std::initializer_list<std::string_view> path) {
  std::string p = detail::path(path);
  char* ptr = nullptr;
  size_t size = 0;
  if (proxy_get_property(p.data(), p.size(), &ptr, &size) != PW_OK) {
    ::free(ptr);
    return std::nullopt;
  }
  return detail::take(ptr, size);
}
inline Status setProperty(std::initializer_list<std::string_view> path, std::string_view value) {
  std::string p = detail::path(path);
  return static_cast<Status>(proxy_set_property(p.data(), p.size(), value.data(), value.size()));
}

// Stream control. After sendLocalResponse return PW_PAUSE.
inline Status continueRequest() { return pw_continue_request(); }
inline Status continueResponse() { return pw_continue_response(); }
inline Status closeStream(StreamType stream) { return pw_close_stream(stream); }
inline Status sendLocalResponse(uint32_t status, std::string_view body, const PairsView& headers = {},
                                std::string_view details = {}, int32_t grpc_status = PW_GRPC_NONE) {
  std::string h = serializePairs(headers);
  return static_cast<Status>(proxy_send_local_response(status, details.data(), details.size(), body.data(),
                                                       body.size(), h.data(), h.size(), grpc_status));
}

// Shared data: value and CAS; set with cas 0 writes unconditionally.
inline Status getSharedData(std::string_view key, std::string* value, uint32_t* cas = nullptr) {
  char* ptr = nullptr;
  size_t size = 0;
  uint32_t c = 0;
  auto st = static_cast<Status>(proxy_get_shared_data(key.data(), key.size(), &ptr, &size, &c));
  std::string v = detail::take(st == PW_OK ? ptr : nullptr, size);
  if (st != PW_OK) ::free(ptr);
  if (value) *value = std::move(v);
  if (cas) *cas = st == PW_OK ? c : 0;
  return st;
}
inline Status setSharedData(std::string_view key, std::string_view value, uint32_t cas = 0) {
  return static_cast<Status>(proxy_set_shared_data(key.data(), key.size(), value.data(), value.size(), cas));
}
// Adds delta to a decimal counter in shared data (missing = 0), retrying
// on PW_CAS_MISMATCH.
inline Status sharedCounterAdd(std::string_view key, int64_t delta, int64_t* result = nullptr) {
  std::string k(key);
  return pw_shared_counter_add(k.c_str(), delta, result);
}

// Shared queues (vm_id "" = this VM).
inline Status registerSharedQueue(std::string_view name, uint32_t* id) {
  return static_cast<Status>(proxy_register_shared_queue(name.data(), name.size(), id));
}
inline Status resolveSharedQueue(std::string_view vm_id, std::string_view name, uint32_t* id) {
  return static_cast<Status>(proxy_resolve_shared_queue(vm_id.data(), vm_id.size(), name.data(), name.size(), id));
}
inline Status enqueueSharedQueue(uint32_t id, std::string_view value) {
  return static_cast<Status>(proxy_enqueue_shared_queue(id, value.data(), value.size()));
}
// PW_EMPTY when nothing is queued.
inline Status dequeueSharedQueue(uint32_t id, std::string* value) {
  char* ptr = nullptr;
  size_t size = 0;
  auto st = static_cast<Status>(proxy_dequeue_shared_queue(id, &ptr, &size));
  std::string v = detail::take(st == PW_OK ? ptr : nullptr, size);
  if (st != PW_OK) ::free(ptr);
  if (value) *value = std::move(v);
  return st;
}

// Metrics.
inline Status defineMetric(MetricType type, std::string_view name, uint32_t* id) {
  return static_cast<Status>(proxy_define_metric(type, name.data(), name.size(), id));
}
inline Status incrementMetric(uint32_t id, int64_t delta) { return pw_increment_metric(id, delta); }
inline Status recordMetric(uint32_t id, uint64_t value) { return pw_record_metric(id, value); }
inline Status getMetric(uint32_t id, uint64_t* value) { return pw_get_metric(id, value); }

// Foreign functions.
inline Status callForeignFunction(std::string_view name, std::string_view args, std::string* result = nullptr) {
  char* ptr = nullptr;
  size_t size = 0;
  auto st = static_cast<Status>(
      proxy_call_foreign_function(name.data(), name.size(), args.data(), args.size(), &ptr, &size));
  std::string v = detail::take(st == PW_OK ? ptr : nullptr, size);
  if (st != PW_OK) ::free(ptr);
  if (result) *result = std::move(v);
  return st;
}

// ------------------------------------------------------------- contexts

class ContextBase {
 public:
  explicit ContextBase(uint32_t id) : id_(id) {}
  virtual ~ContextBase() = default;
  ContextBase(const ContextBase&) = delete;
  ContextBase& operator=(const ContextBase&) = delete;

  uint32_t id() const { return id_; }

  // Dispatches an HTTP call to upstream (host:port or an upstream name);
  // headers need :method, :path and :authority. The answer comes to this
  // context's onHttpCallResponse (unless it was deleted meanwhile).
  Status httpCall(std::string_view upstream, const PairsView& headers, std::string_view body = {},
                  const PairsView& trailers = {}, uint32_t timeout_ms = 5000, uint32_t* token = nullptr);

  // num_headers == 0: the call failed. Read the answer with
  // getHeader(PW_HTTP_CALL_RESPONSE_HEADERS, ...) and
  // getBuffer(PW_HTTP_CALL_RESPONSE_BODY).
  virtual void onHttpCallResponse(uint32_t token, uint32_t num_headers, size_t body_size, uint32_t num_trailers) {
    (void)token, (void)num_headers, (void)body_size, (void)num_trailers;
  }

 private:
  uint32_t id_;
};

// One per filter configuration. Lives until the host deletes it.
class RootContext : public ContextBase {
 public:
  using ContextBase::ContextBase;

  virtual bool onVmStart(size_t vm_config_size) { return (void)vm_config_size, true; }
  virtual bool onConfigure(size_t config_size) { return (void)config_size, true; }
  virtual void onTick() {}
  virtual void onQueueReady(uint32_t queue_id) { (void)queue_id; }
  virtual void onForeignFunction(uint32_t function_id, size_t args_size) { (void)function_id, (void)args_size; }
  virtual bool onDone() { return true; }
  virtual void onDelete() {}

  // The plugin configuration (in onConfigure) / VM configuration (in onVmStart).
  static std::string configuration() { return getBuffer(PW_PLUGIN_CONFIGURATION).value_or(std::string()); }
  static std::string vmConfiguration() { return getBuffer(PW_VM_CONFIGURATION).value_or(std::string()); }
};

// One per HTTP request.
class HttpContext : public ContextBase {
 public:
  HttpContext(uint32_t id, RootContext* root) : ContextBase(id), root_(root) {}
  RootContext* root() const { return root_; }

  // A context per request: a deleted one's memory is kept for the next
  // (a free list of the filter's context size) instead of going back to
  // malloc. Other sizes go to malloc as usual.
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  virtual Action onRequestHeaders(uint32_t num_headers, bool end_of_stream) {
    return (void)num_headers, (void)end_of_stream, PW_CONTINUE;
  }
  // Return PW_STOP_ITERATION_AND_BUFFER to see the body again, bigger.
  virtual Action onRequestBody(size_t body_size, bool end_of_stream) {
    return (void)body_size, (void)end_of_stream, PW_CONTINUE;
  }
  virtual Action onRequestTrailers(uint32_t num_trailers) { return (void)num_trailers, PW_CONTINUE; }
  virtual Action onResponseHeaders(uint32_t num_headers, bool end_of_stream) {
    return (void)num_headers, (void)end_of_stream, PW_CONTINUE;
  }
  virtual Action onResponseBody(size_t body_size, bool end_of_stream) {
    return (void)body_size, (void)end_of_stream, PW_CONTINUE;
  }
  virtual Action onResponseTrailers(uint32_t num_trailers) { return (void)num_trailers, PW_CONTINUE; }
  virtual void onLog() {}
  virtual void onDone() {}
  virtual void onDelete() {}

 private:
  RootContext* root_;
};

// ------------------------------------------------------------- dispatch

namespace detail {

// Contexts by id, owned: open addressing on the id (hosts number contexts
// from 1 up, so the id is its own hash), no allocation per context.
template <class T>
class IdTable {
 public:
  IdTable() = default;
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;
  ~IdTable() {
    for (const Slot& s : slots_) delete s.ptr;
  }
  T* find(uint32_t id) const {
    if (slots_.empty() || id == 0) return nullptr;
    for (size_t i = id & mask();; i = (i + 1) & mask()) {
      if (slots_[i].id == id) return slots_[i].ptr;
      if (slots_[i].id == 0) return nullptr;
    }
  }
  // Takes ownership; an existing context of that id is deleted.
  void put(uint32_t id, T* ptr) {
    if (id == 0) return delete ptr;
    if (T* old = find(id)) {
      delete old;
      slot_of(id)->ptr = ptr;
      return;
    }
    if (2 * (size_ + 1) > slots_.size()) grow();
    size_t i = id & mask();
    while (slots_[i].id != 0) i = (i + 1) & mask();
    slots_[i] = {id, ptr};
    ++size_;
  }
  // Deletes the context of that id, if any.
  void erase(uint32_t id) {
    Slot* s = slot_of(id);
    if (s == nullptr) return;
    delete s->ptr;
    --size_;
    // Backward-shift deletion: later entries of the probe run move up so
    // that find() never stops at a hole before them.
    size_t hole = static_cast<size_t>(s - slots_.data());
    for (size_t j = (hole + 1) & mask(); slots_[j].id != 0; j = (j + 1) & mask()) {
      const size_t home = slots_[j].id & mask();
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = {};
  }

 private:
  struct Slot {
    uint32_t id = 0;  // 0: empty
    T* ptr = nullptr;
  };
  size_t mask() const { return slots_.size() - 1; }
  Slot* slot_of(uint32_t id) {
    if (slots_.empty() || id == 0) return nullptr;
    for (size_t i = id & mask();; i = (i + 1) & mask()) {
      if (slots_[i].id == id) return &slots_[i];
      if (slots_[i].id == 0) return nullptr;
    }
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.id == 0) continue;
      size_t i = s.id & mask();
      while (slots_[i].id != 0) i = (i + 1) & mask();
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;  // a power of two, at most half full
  size_t size_ = 0;
};

struct Registry {
  RootContext* (*new_root)(uint32_t id) = nullptr;
  HttpContext* (*new_http)(uint32_t id, RootContext* root) = nullptr;
  IdTable<RootContext> roots;
  IdTable<HttpContext> http;
  // (root id << 32 | token) -> id of the context that made the call
  std::unordered_map<uint64_t, uint32_t> calls;
};

inline Registry& registry() {
  static Registry r;
  return r;
}

inline ContextBase* find(uint32_t id) {
  auto& r = registry();
  if (HttpContext* h = r.http.find(id)) return h;
  return r.roots.find(id);
}
inline HttpContext* http(uint32_t id) { return registry().http.find(id); }
inline RootContext* root(uint32_t id) { return registry().roots.find(id); }

inline void onContextCreate(uint32_t id, uint32_t parent) {
  auto& r = registry();
  if (parent == 0) {
    if (r.new_root) r.roots.put(id, r.new_root(id));
  } else if (RootContext* p = root(parent); p && r.new_http) {
    r.http.put(id, r.new_http(id, p));
  }
}

// The free list behind HttpContext's operator new and delete.
struct ContextPool {
  static constexpr size_t kMaxKept = 1024;
  void* head = nullptr;  // each free block starts with the next one's address
  size_t size = 0;       // the one size kept (the first deleted)
  size_t kept = 0;
};
inline ContextPool& context_pool() {
  static ContextPool p;
  return p;
}

inline void onDelete(uint32_t id) {
  auto& r = registry();
  if (HttpContext* h = http(id)) {
    h->onDelete();
    r.http.erase(id);
  } else if (RootContext* rc = root(id)) {
    rc->onDelete();
    r.roots.erase(id);
  }
  for (auto it = r.calls.begin(); it != r.calls.end();) {
    it = it->second == id ? r.calls.erase(it) : std::next(it);
  }
}

}  // namespace detail

inline void* HttpContext::operator new(size_t size) {
  detail::ContextPool& p = detail::context_pool();
  if (p.head != nullptr && size == p.size) {
    void* block = p.head;
    p.head = *static_cast<void**>(block);
    --p.kept;
    return block;
  }
  void* block = std::malloc(size < sizeof(void*) ? sizeof(void*) : size);
  if (block == nullptr) __builtin_trap();
  return block;
}

inline void HttpContext::operator delete(void* block, size_t size) {
  detail::ContextPool& p = detail::context_pool();
  if (p.size == 0) p.size = size;
  if (size == p.size && p.kept < detail::ContextPool::kMaxKept) {
    *static_cast<void**>(block) = p.head;
    p.head = block;
    ++p.kept;
    return;
  }
  std::free(block);
}

namespace detail {

inline void onHttpCallResponse(uint32_t root_id, uint32_t token, uint32_t headers, uint32_t body, uint32_t trailers) {
  auto& r = registry();
  auto it = r.calls.find(static_cast<uint64_t>(root_id) << 32 | token);
  if (it == r.calls.end()) {  // a host that passes another context id: match the token alone
    for (it = r.calls.begin(); it != r.calls.end(); ++it) {
      if (static_cast<uint32_t>(it->first) == token) break;
    }
  }
  if (it == r.calls.end()) return;
  uint32_t id = it->second;
  r.calls.erase(it);
  ContextBase* c = find(id);
  if (c == nullptr) return;
  if (id != root_id) proxy_set_effective_context(id);
  c->onHttpCallResponse(token, headers, body, trailers);
}

// The per-request callbacks are exported only when the filter's classes
// override them: the host then skips the others, and a filter that does
// not read bodies keeps them off its path (a body goes through a filter
// only when it exports a body callback). Each XExport<On>::call is emitted
// (and so exported) only when keep_export<XExport, true> takes its address;
// keep_export<XExport, false> never names it.
// The HTTP callbacks with a result: the context's method, or Continue when
// the context is gone.
#define PW_HTTP_EXPORT(Struct, export, params, method_call)                  \
  template <bool On>                                                         \
  struct Struct {                                                            \
    __attribute__((export_name(export), used)) static uint32_t call params { \
      HttpContext* c = http(id);                                             \
      return c ? c->method_call : PW_CONTINUE;                               \
    }                                                                        \
  };
PW_HTTP_EXPORT(RequestHeadersExport, "proxy_on_request_headers", (uint32_t id, uint32_t n, uint32_t eos),
               onRequestHeaders(n, eos != 0))
PW_HTTP_EXPORT(RequestBodyExport, "proxy_on_request_body", (uint32_t id, uint32_t size, uint32_t eos),
               onRequestBody(size, eos != 0))
PW_HTTP_EXPORT(RequestTrailersExport, "proxy_on_request_trailers", (uint32_t id, uint32_t n), onRequestTrailers(n))
PW_HTTP_EXPORT(ResponseHeadersExport, "proxy_on_response_headers", (uint32_t id, uint32_t n, uint32_t eos),
               onResponseHeaders(n, eos != 0))
PW_HTTP_EXPORT(ResponseBodyExport, "proxy_on_response_body", (uint32_t id, uint32_t size, uint32_t eos),
               onResponseBody(size, eos != 0))
PW_HTTP_EXPORT(ResponseTrailersExport, "proxy_on_response_trailers", (uint32_t id, uint32_t n), onResponseTrailers(n))
#undef PW_HTTP_EXPORT
template <bool On>
struct LogExport {
  __attribute__((export_name("proxy_on_log"), used)) static void call(uint32_t id) {
    if (HttpContext* c = http(id)) c->onLog();
  }
};
template <bool On>
struct DoneExport {
  __attribute__((export_name("proxy_on_done"), used)) static uint32_t call(uint32_t id) {
    if (HttpContext* c = http(id)) {
      c->onDone();
      return 1;
    }
    RootContext* c = root(id);
    return c ? c->onDone() : 1;
  }
};
template <template <bool> class Export, bool On>
inline void keep_export() {
  if constexpr (On) {
    static auto* volatile kept = &Export<On>::call;
    (void)kept;
  }
}
// Overridden: the class's &Class::method has its own class type, not the base's.
#define PW_OVERRIDES(T, Base, method) (!std::is_same_v<decltype(&T::method), decltype(&Base::method)>)

}  // namespace detail

inline Status ContextBase::httpCall(std::string_view upstream, const PairsView& headers, std::string_view body,
                                    const PairsView& trailers, uint32_t timeout_ms, uint32_t* token) {
  std::string h = serializePairs(headers), t = serializePairs(trailers);
  uint32_t tok = 0;
  auto st = static_cast<Status>(proxy_http_call(upstream.data(), upstream.size(), h.data(), h.size(), body.data(),
                                                body.size(), t.data(), t.size(), timeout_ms, &tok));
  if (st == PW_OK) {
    HttpContext* h = detail::http(id());
    uint32_t root_id = h != nullptr && h->root() != nullptr ? h->root()->id() : id();
    detail::registry().calls[static_cast<uint64_t>(root_id) << 32 | tok] = id();
  }
  if (token) *token = tok;
  return st;
}

}  // namespace pw

// Registers the filter's context classes (RootT derives from
// pw::RootContext with constructor (uint32_t id); HttpT from pw::HttpContext
// with constructor (uint32_t id, RootT* root)) and defines the proxy_on_*
// exports: the per-request ones only for the callbacks the classes
// override. Use once per module, at file scope.
#define PW_REGISTER(RootT, HttpT)                                                                                    \
  static const bool pw_registered_ = [] {                                                                            \
    auto& r = ::pw::detail::registry();                                                                              \
    r.new_root = [](uint32_t id) -> ::pw::RootContext* { return new RootT(id); };                                    \
    r.new_http = [](uint32_t id, ::pw::RootContext* root) -> ::pw::HttpContext* {                                    \
      return new HttpT(id, static_cast<RootT*>(root));                                                               \
    };                                                                                                               \
    using ::pw::detail::keep_export;                                                                                 \
    keep_export<::pw::detail::RequestHeadersExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onRequestHeaders)>();     \
    keep_export<::pw::detail::RequestBodyExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onRequestBody)>();           \
    keep_export<::pw::detail::RequestTrailersExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onRequestTrailers)>();   \
    keep_export<::pw::detail::ResponseHeadersExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onResponseHeaders)>();   \
    keep_export<::pw::detail::ResponseBodyExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onResponseBody)>();         \
    keep_export<::pw::detail::ResponseTrailersExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onResponseTrailers)>(); \
    keep_export<::pw::detail::LogExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onLog)>();                           \
    keep_export<::pw::detail::DoneExport, PW_OVERRIDES(HttpT, ::pw::HttpContext, onDone) ||                          \
                                              PW_OVERRIDES(RootT, ::pw::RootContext, onDone)>();                     \
    return true;                                                                                                     \
  }();                                                                                                               \
  extern "C" {                                                                                                       \
  void proxy_on_context_create(uint32_t id, uint32_t parent) { ::pw::detail::onContextCreate(id, parent); }          \
  uint32_t proxy_on_vm_start(uint32_t id, uint32_t size) {                                                           \
    ::pw::RootContext* c = ::pw::detail::root(id);                                                                   \
    return c ? c->onVmStart(size) : 1;                                                                               \
  }                                                                                                                  \
  uint32_t proxy_on_configure(uint32_t id, uint32_t size) {                                                          \
    ::pw::RootContext* c = ::pw::detail::root(id);                                                                   \
    return c ? c->onConfigure(size) : 1;                                                                             \
  }                                                                                                                  \
  void proxy_on_tick(uint32_t id) {                                                                                  \
    if (::pw::RootContext* c = ::pw::detail::root(id)) c->onTick();                                                  \
  }                                                                                                                  \
  void proxy_on_queue_ready(uint32_t id, uint32_t queue) {                                                           \
    if (::pw::RootContext* c = ::pw::detail::root(id)) c->onQueueReady(queue);                                      \
  }                                                                                                                  \
  void proxy_on_foreign_function(uint32_t id, uint32_t fn, uint32_t size) {                                          \
    if (::pw::RootContext* c = ::pw::detail::root(id)) c->onForeignFunction(fn, size);                              \
  }                                                                                                                  \
  void proxy_on_http_call_response(uint32_t id, uint32_t token, uint32_t headers, uint32_t body, uint32_t trailers) { \
    ::pw::detail::onHttpCallResponse(id, token, headers, body, trailers);                                            \
  }                                                                                                                  \
  void proxy_on_delete(uint32_t id) { ::pw::detail::onDelete(id); }                                                  \
  }
#endif

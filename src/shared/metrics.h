// Process-wide registry of Proxy-Wasm filter metrics (proxy_define_metric &
// co.) plus the gateway's own per-filter runtime counters, shared by every
// worker thread and rendered in the Prometheus text format (0.0.4).
//
// define() takes a mutex (it runs at VM start / on_configure, once per worker
// and metric). Everything after that is lock-free: an id indexes a chunked
// table whose chunks never move, and values are relaxed atomics.
//
// Semantics (the ABI shim maps false to NOT_FOUND / BAD_ARGUMENT; use
// type_of() to tell an unknown id from a wrong-type call):
//   counter:   increment(delta >= 0) adds (negative: refused; 0 is a no-op),
//              record(v) sets the value (Envoy adds, ngx_wasm_module refuses),
//              get() returns it.
//   gauge:     increment(delta) adds (may go negative), record(v) sets it to
//              (int64_t)v, get() returns the int64 value's two's complement
//              bit pattern (cast the result back to int64_t).
//   histogram: record(v) adds an observation, increment() refused,
//              get() refused (Envoy and ngx_wasm_module refuse it as well).
// Histograms have 18 log2 bins like ngx_wasm_module: upper bounds 1, 2, 4, ...,
// 65536 and a catch-all (+Inf). Counter/sum arithmetic wraps at 2^64.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace wg::shared {

// Numbering of the Proxy-Wasm ABI (proxy_metric_type_t).
enum class MetricType : uint32_t { Counter = 0, Gauge = 1, Histogram = 2 };

// The gateway's own counters for one filter. Callers look the handle up once
// (Metrics::stats_for) and keep the pointer: it stays valid for the life of
// the process, and updating it is three relaxed atomic adds.
struct FilterStats {
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> traps{0};
  std::atomic<uint64_t> nanoseconds{0};

  void add_calls(uint64_t n, uint64_t ns) {
    calls.fetch_add(n, std::memory_order_relaxed);
    nanoseconds.fetch_add(ns, std::memory_order_relaxed);
  }
  void add_trap() { traps.fetch_add(1, std::memory_order_relaxed); }
};

class Metrics {
 public:
  static constexpr size_t kMaxNameLength = 256;  // filter name and metric name, each (ngx's default)
  static constexpr uint32_t kChunkSize = 256;
  static constexpr uint32_t kMaxChunks = 256;
  static constexpr uint32_t kMaxMetrics = kChunkSize * kMaxChunks;  // 65536
  static constexpr int kHistogramBins = 18;                         // 17 finite log2 bounds + +Inf
  static constexpr uint64_t kHistogramMaxFiniteBound = uint64_t{1} << (kHistogramBins - 2);  // 65536

  // The process-wide registry (never destroyed, so worker threads may use it
  // until the very end of the process).
  static Metrics& instance();

  // Separate registries are for tests; production code uses instance().
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Defines (or finds) the metric `name` of `filter`. Defining the same
  // (filter, name) again with the same type returns the same id, so every
  // worker's VM can define its metrics. Ids are nonzero and stable for the
  // life of the registry. Returns 0 and sets *ok=false when the name is
  // already defined with another type, when a name is empty or longer than
  // kMaxNameLength, when `type` is not one of the three, or when the registry
  // is full (kMaxMetrics). `ok` may be null.
  uint32_t define(MetricType type, std::string_view filter, std::string_view name, bool* ok = nullptr);

  // False for an unknown id (0 included) or a refused operation (see above).
  bool increment(uint32_t id, int64_t delta);
  bool record(uint32_t id, uint64_t value);
  bool get(uint32_t id, uint64_t* value);
  // False for an unknown id.
  bool type_of(uint32_t id, MetricType* type) const;

  // Gateway runtime counters, rendered as wasmgate_filter_{calls,traps,seconds}_total.
  FilterStats* stats_for(std::string_view filter);  // stable pointer, never null
  void add_filter_call(std::string_view filter, uint64_t ns) { stats_for(filter)->add_calls(1, ns); }
  void add_filter_trap(std::string_view filter) { stats_for(filter)->add_trap(); }

  // Prometheus text format 0.0.4. Filter metrics are families named
  // wasm_filter_<filter>_<name> (each part sanitized to [a-zA-Z0-9_]), sorted
  // by name. If two metrics' sample names clash after sanitizing ("a.b" and
  // "a_b"; or a counter "x_count" and a histogram "x"), the one defined first
  // is rendered and the other is left out (a warning is logged when it is
  // defined; the metric itself works).
  std::string render_prometheus() const;

  // "wasm_filter_" + sanitize(filter) + "_" + sanitize(name).
  static std::string family_name(std::string_view filter, std::string_view name);
  // Index of the histogram bin counting `value` (0 for values <= 1, i for
  // values in (2^(i-1), 2^i], kHistogramBins-1 for values above 65536).
  static int histogram_bin(uint64_t value);

 private:
  struct Histogram {
    std::array<std::atomic<uint64_t>, kHistogramBins> bins{};
    std::atomic<uint64_t> sum{0};
  };
  struct Metric {
    MetricType type = MetricType::Counter;
    std::string filter;
    std::string name;
    std::atomic<uint64_t> counter{0};
    std::atomic<int64_t> gauge{0};
    std::unique_ptr<Histogram> histogram;  // histograms only
  };

  // The published metric for `id`, or null. Lock-free.
  Metric* find(uint32_t id) const;

  mutable std::mutex mu_;  // define() and rendering
  std::atomic<uint32_t> count_{0};  // published metrics; ids are 1..count_
  std::array<std::atomic<Metric*>, kMaxChunks> chunks_{};  // each new Metric[kChunkSize]
  std::map<std::string, uint32_t, std::less<>> by_key_;   // filter '\0' name -> id
  std::map<std::string, uint32_t, std::less<>> families_;  // rendered family name -> id
  std::map<std::string, uint32_t, std::less<>> sample_names_;  // every sample name a family emits -> id

  mutable std::shared_mutex stats_mu_;
  std::map<std::string, std::unique_ptr<FilterStats>, std::less<>> stats_;
};

}  // namespace wg::shared

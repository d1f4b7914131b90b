// Kong's prometheus exporter, the counting and the text: the per-request
// series of the `prometheus` plugin (kong_http_requests_total,
// kong_bandwidth_bytes, the three latency histograms) and the node-level
// gauges (connections, node info, datastore, upstream target health), with
// Kong 3.x's names, label names and buckets.
//
// Counting is per worker thread and costs no lock: each thread counts into
// its own SeriesTable (made the first time it counts), whose values only it
// writes (a relaxed load and store, no locked instruction). A table finds
// a series by a 64-bit key packed from small integers: the (service, route)
// labels and the consumer's username are interned when a config is built
// (route_key, consumer_key), the status code and source are numbers. A new
// label set allocates once (its block of values, maybe a bigger index);
// after that, counting allocates nothing. The admin thread walks every
// table at scrape time and adds them up. Series are keyed by label values,
// not by config objects, so they outlive reloads, as Kong's shared-dict
// counters do.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace wg::shared {

// Kong's buckets (exporter.lua), in milliseconds.
inline constexpr std::array<int64_t, 17> kKongLatencyBuckets = {1,  2,  5,   7,   10,  15,   20,   30,  50,
                                                                75, 100, 200, 500, 750, 1000, 3000, 6000};
inline constexpr std::array<int64_t, 13> kUpstreamLatencyBuckets = {25,   50,   80,    100,   250,   400, 700,
                                                                    1000, 2000, 5000, 10000, 30000, 60000};

// One worker thread's series. Only its owner thread calls the counting
// functions; the admin thread reads it through KongMetrics.
class SeriesTable {
 public:
  SeriesTable();
  ~SeriesTable();
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  // kong_http_requests_total: one request answered with `code`, by the
  // upstream (from_service) or by the gateway.
  void count_status(uint32_t route, int code, bool from_service, uint32_t consumer);
  // kong_bandwidth_bytes, both directions.
  void add_bandwidth(uint32_t route, uint32_t consumer, uint64_t ingress, uint64_t egress);
  // The three histograms; a negative value is not observed (Kong's rule:
  // no upstream latency for a request that never got an upstream answer).
  void observe_latencies(uint32_t route, int64_t kong_ms, int64_t upstream_ms, int64_t request_ms);

  // What kinds of series a key holds (its top two bits).
  enum Kind : uint64_t { Status = 1, Bandwidth = 2, Latency = 3 };
  static uint64_t key(Kind kind, uint32_t route, int code, bool from_service, uint32_t consumer);
  static Kind kind_of(uint64_t key) { return static_cast<Kind>(key >> 62); }
  static uint32_t route_of(uint64_t key) { return static_cast<uint32_t>((key >> 38) & 0xFFFFFF); }
  static int code_of(uint64_t key) { return static_cast<int>((key >> 28) & 0x3FF); }
  static bool service_source_of(uint64_t key) { return ((key >> 27) & 1) != 0; }
  static uint32_t consumer_of(uint64_t key) { return static_cast<uint32_t>(key & 0x7FFFFFF); }
  static uint32_t values_of(Kind kind);  // block size of a kind

  // Every published series: (key, its values). For the admin thread.
  template <typename F>
  void for_each(F&& f) const;
  // Label sets refused because the table is full (kMaxChunks).
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  static constexpr uint32_t kChunkValues = 4096;
  static constexpr uint32_t kMaxChunks = 4096;  // 16 Mi values (128 MiB) per worker at most

 private:
  using Value = std::atomic<uint64_t>;
  // The values of the series `key` (made, zeroed, on its first use), or
  // null when the table is full.
  Value* find(uint64_t key) {
    size_t mask = index_.size() - 1;
    for (size_t i = (key * 0x9E3779B97F4A7C15ull) >> shift_;; i = (i + 1) & mask) {
      if (index_[i].key == key) return index_[i].values;
      if (index_[i].key == 0) return add(key, i);
    }
  }
  Value* add(uint64_t key, size_t slot);
  void grow_index();

  // The owner's index: open addressing, never more than half full.
  struct Slot {
    uint64_t key = 0;
    Value* values = nullptr;
  };
  std::vector<Slot> index_;
  int shift_ = 0;  // 64 - log2(index_.size())
  size_t entries_ = 0;
  // Blocks of [key, values...] in chunks that never move: what the admin
  // thread walks, up to `published_` (a value position, release-stored
  // after a block's key is written). A zero key skips to the next chunk.
  std::array<std::atomic<Value*>, kMaxChunks> chunks_{};
  std::atomic<uint64_t> published_{0};
  uint64_t used_ = 0;
  std::atomic<uint64_t> dropped_{0};
};

// What a scrape shows besides the counted series (gathered by the caller
// from the running config and the workers).
struct NodeView {
  bool plugin_enabled = false;   // at least one prometheus instance: the per-request families
  bool upstream_health = false;  // ... with upstream_health_metrics
  std::string node_id, version;
  // Kong's nginx connection states: accepted, handled, total (requests),
  // active, reading, writing, waiting.
  uint64_t accepted = 0, handled = 0, requests = 0, active = 0, reading = 0, writing = 0, waiting = 0;
  struct Target {
    std::string upstream, target, address;
    std::string state;  // healthchecks_off, healthy, unhealthy, dns_error
  };
  std::vector<Target> targets;
};

class KongMetrics {
 public:
  // The process-wide registry (never destroyed).
  static KongMetrics& instance();
  KongMetrics() = default;  // separate registries are for tests
  KongMetrics(const KongMetrics&) = delete;
  KongMetrics& operator=(const KongMetrics&) = delete;

  // Interning, when a config is built (takes a mutex): the same labels give
  // the same key for the life of the registry.
  uint32_t route_key(std::string_view service, std::string_view route);
  uint32_t consumer_key(std::string_view username);  // "" is 0

  // The calling thread's table of instance() (made on its first call).
  static SeriesTable& local();
  // A new table of this registry (local() uses it; tests call it directly).
  SeriesTable& add_table();

  // Prometheus text (Kong's families, sorted by name; histograms' buckets,
  // then counts, then sums, as Kong prints them).
  std::string render(const NodeView& node) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint32_t> route_ids_;
  std::vector<std::pair<std::string, std::string>> routes_;  // by key: (service, route)
  std::map<std::string, uint32_t, std::less<>> consumer_ids_;
  std::vector<std::string> consumers_{""};  // by key
  std::vector<std::unique_ptr<SeriesTable>> tables_;
};

template <typename F>
void SeriesTable::for_each(F&& f) const {
  const uint64_t end = published_.load(std::memory_order_acquire);
  uint64_t pos = 0;
  while (pos < end) {
    const Value* chunk = chunks_[pos / kChunkValues].load(std::memory_order_acquire);
    const uint64_t k = chunk[pos % kChunkValues].load(std::memory_order_relaxed);
    if (k == 0) {  // the rest of this chunk is unused
      pos = (pos / kChunkValues + 1) * kChunkValues;
      continue;
    }
    f(k, &chunk[pos % kChunkValues + 1]);
    pos += 1 + values_of(kind_of(k));
  }
}

}  // namespace wg::shared

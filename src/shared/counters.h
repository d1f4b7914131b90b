// Process-wide windowed counters, shared by every worker: what Kong's
// rate-limiting keeps in a shared dict with its "local" policy, so a limit
// of N per minute admits N requests on the node, not N per worker. A key's
// entry counts one window at a time and lives until shortly after its last
// window ends; entries survive config reloads, as Kong's do.
//
// One mutex per shard (64 shards by key hash): an increment takes one
// uncontended lock in practice and allocates only when a key comes back
// after its entry was swept.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wg::shared {

class WindowCounters {
 public:
  static WindowCounters& instance();

  // Adds `by` to the counter of `key` for the window that ends at
  // `expires_s` (seconds since the epoch) and returns the new value. An
  // entry of another window, or whose window ended, counts from zero
  // again: a key names a counter across its windows, and its entry is
  // reused window after window (no allocation while the key is in use).
  uint64_t add(std::string_view key, uint64_t by, int64_t expires_s, int64_t now_s);
  // Undoes an add of `by` to the window ending at `expires_s` (a request
  // refused after counting).
  void take_back(std::string_view key, uint64_t by, int64_t expires_s, int64_t now_s);
  // The current value (0 when absent or expired).
  uint64_t get(std::string_view key, int64_t now_s) const;

 private:
  struct Entry {
    uint64_t value = 0;
    int64_t expires_s = 0;
  };
  // A key and its hash, computed once per call: it picks the shard and is
  // the map's hash (lookups by it build no std::string and hash nothing).
  struct Probe {
    std::string_view key;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    size_t operator()(const Probe& p) const { return p.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const std::string& a, const std::string& b) const { return a == b; }
    bool operator()(const Probe& p, const std::string& b) const { return p.key == b; }
    bool operator()(const std::string& a, const Probe& p) const { return a == p.key; }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Entry, KeyHash, KeyEq> entries;
    int64_t next_sweep_s = 0;
  };
  static constexpr size_t kShards = 64;
  // How long an entry outlives its window before a sweep drops it, so that
  // a key counted every second keeps its entry.
  static constexpr int64_t kKeepS = 2;
  static Probe probe(std::string_view key) { return {key, std::hash<std::string_view>{}(key)}; }
  // The shard from the hash's top bits (the map's buckets use it modulo a prime).
  static_assert(kShards == 64, "shard() takes the hash's top 6 bits");
  Shard& shard(const Probe& p) const { return shards_[(p.hash * 0x9E3779B97F4A7C15ull) >> 58]; }
  static void sweep(Shard& s, int64_t now_s);

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace wg::shared

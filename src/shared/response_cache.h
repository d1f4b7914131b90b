// The proxy-cache plugin's memory strategy: what Kong keeps in a
// lua_shared_dict (kong_db_cache by default), here one store per dictionary
// name per process, shared by every worker. A store is bounded in bytes
// (kDefaultBytes, as a shared dict has a fixed size) and evicts the least
// recently used entries when a new one does not fit; entries also expire
// by their storage TTL. Stores outlive config reloads, as Kong's shm does.
//
// Sharded by key hash, one mutex per shard, each shard with its share of
// the byte budget: a lookup takes one lock that is uncontended in practice.
// Entries are immutable and handed out as shared_ptr, so a hit copies the
// response out of the store without holding the lock.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace wg::shared {

// One cached response, as Kong's strategy stores it.
struct CachedResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // hop-by-hop ones left out
  std::string body;
  int64_t timestamp_s = 0;  // when it was stored (Kong's res.timestamp)
  int64_t ttl_s = 0;        // the resource's TTL (Kong's res.ttl)

  size_t bytes() const;
};

class ResponseCache {
 public:
  // Kong's kong_db_cache defaults to 128 MiB for all of Kong's entities; a
  // store here holds only responses.
  static constexpr size_t kDefaultBytes = 64u << 20;
  static constexpr size_t kShards = 16;

  explicit ResponseCache(size_t capacity_bytes = kDefaultBytes);

  // The store of a dictionary name, made on first use (config build time:
  // plugins keep the pointer). Stores live as long as the process.
  static ResponseCache& named(std::string_view dictionary);
  // Every store made so far (the Admin API's purge visits them all).
  static void each(const std::function<void(ResponseCache&)>& visit);

  // The entry of `key`, unless absent or expired (now in milliseconds
  // since the epoch). A hit makes it the most recently used.
  std::shared_ptr<const CachedResponse> fetch(std::string_view key, int64_t now_ms);
  // Stores (or replaces) `key` for ttl_ms, evicting the least recently used
  // entries of its shard to make room. False when it is too large to fit.
  bool store(std::string_view key, std::shared_ptr<const CachedResponse> value, int64_t ttl_ms, int64_t now_ms);
  // Removes `key`; whether it was there (and not expired).
  bool purge(std::string_view key, int64_t now_ms);
  // Removes everything.
  void flush();

  // The largest entry a store accepts (its shard's budget): the plugin stops
  // copying a body past it.
  size_t max_entry_bytes() const { return shard_capacity_; }
  size_t bytes_used() const;
  size_t entries() const;

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const CachedResponse> value;
    int64_t expires_ms = 0;
    size_t bytes = 0;
  };
  using Lru = std::list<Node>;  // front: most recently used
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  struct Shard {
    mutable std::mutex mu;
    Lru lru;
    std::unordered_map<std::string_view, Lru::iterator, KeyHash, std::equal_to<>> index;  // views of Node::key
    size_t bytes = 0;
  };
  Shard& shard(std::string_view key);
  static void erase(Shard& s, Lru::iterator it);

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace wg::shared

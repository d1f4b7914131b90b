#include "shared/response_cache.h"

#include <map>

namespace wg::shared {

namespace {
// What a stored entry costs besides its strings (nodes, index slot).
constexpr size_t kEntryOverhead = 128;
}  // namespace

size_t CachedResponse::bytes() const {
  size_t n = sizeof(CachedResponse) + body.size();
  for (const auto& [k, v] : headers) n += k.size() + v.size() + 2 * sizeof(std::string);
  return n;
}

ResponseCache::ResponseCache(size_t capacity_bytes) : shard_capacity_(capacity_bytes / kShards) {}

namespace {
struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<ResponseCache>, std::less<>> stores;
};
Registry& registry() {
  static Registry r;
  return r;
}
}  // namespace

ResponseCache& ResponseCache::named(std::string_view dictionary) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.stores.find(dictionary);
  if (it == r.stores.end()) it = r.stores.emplace(std::string(dictionary), std::make_unique<ResponseCache>()).first;
  return *it->second;
}

void ResponseCache::each(const std::function<void(ResponseCache&)>& visit) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto& [name, store] : r.stores) visit(*store);
}

ResponseCache::Shard& ResponseCache::shard(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

void ResponseCache::erase(Shard& s, Lru::iterator it) {
  s.bytes -= it->bytes;
  s.index.erase(std::string_view(it->key));
  s.lru.erase(it);
}

std::shared_ptr<const CachedResponse> ResponseCache::fetch(std::string_view key, int64_t now_ms) {
  Shard& s = shard(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return nullptr;
  Lru::iterator node = it->second;
  if (node->expires_ms <= now_ms) {
    erase(s, node);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, node);
  return node->value;
}

bool ResponseCache::store(std::string_view key, std::shared_ptr<const CachedResponse> value, int64_t ttl_ms,
                          int64_t now_ms) {
  const size_t bytes = value->bytes() + key.size() + kEntryOverhead;
  Shard& s = shard(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto found = s.index.find(key);
  if (found != s.index.end()) erase(s, found->second);
  if (bytes > shard_capacity_) return false;
  // As a shared dict does: expired entries go first, then the least
  // recently used, until the new one fits.
  for (auto it = s.lru.begin(); it != s.lru.end() && s.bytes + bytes > shard_capacity_;) {
    auto next = std::next(it);
    if (it->expires_ms <= now_ms) erase(s, it);
    it = next;
  }
  while (s.bytes + bytes > shard_capacity_ && !s.lru.empty()) erase(s, std::prev(s.lru.end()));
  s.lru.push_front(Node{std::string(key), std::move(value), now_ms + ttl_ms, bytes});
  s.index.emplace(std::string_view(s.lru.front().key), s.lru.begin());
  s.bytes += bytes;
  return true;
}

bool ResponseCache::purge(std::string_view key, int64_t now_ms) {
  Shard& s = shard(key);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return false;
  bool live = it->second->expires_ms > now_ms;
  erase(s, it->second);
  return live;
}

void ResponseCache::flush() {
  for (Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.index.clear();
    s.lru.clear();
    s.bytes = 0;
  }
}

size_t ResponseCache::bytes_used() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.bytes;
  }
  return n;
}

size_t ResponseCache::entries() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.lru.size();
  }
  return n;
}

}  // namespace wg::shared

#include "shared/counters.h"

#include <algorithm>
#include <functional>

namespace wg::shared {

WindowCounters& WindowCounters::instance() {
  static WindowCounters counters;
  return counters;
}

// Drops entries whose window ended more than kKeepS ago, at most once a
// second per shard, so keys no longer counted do not pile up.
void WindowCounters::sweep(Shard& s, int64_t now_s) {
  if (now_s < s.next_sweep_s) return;
  s.next_sweep_s = now_s + 1;
  for (auto it = s.entries.begin(); it != s.entries.end();) {
    it = it->second.expires_s + kKeepS <= now_s ? s.entries.erase(it) : std::next(it);
  }
}

uint64_t WindowCounters::add(std::string_view key, uint64_t by, int64_t expires_s, int64_t now_s) {
  const Probe p = probe(key);
  Shard& s = shard(p);
  std::lock_guard<std::mutex> lock(s.mu);
  sweep(s, now_s);
  auto it = s.entries.find(p);
  if (it == s.entries.end()) it = s.entries.emplace(std::string(key), Entry{}).first;
  Entry& e = it->second;
  if (e.expires_s != expires_s || e.expires_s <= now_s) e = Entry{0, expires_s};
  e.value += by;
  return e.value;
}

void WindowCounters::take_back(std::string_view key, uint64_t by, int64_t expires_s, int64_t now_s) {
  const Probe p = probe(key);
  Shard& s = shard(p);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.entries.find(p);
  if (it == s.entries.end() || it->second.expires_s != expires_s || it->second.expires_s <= now_s) return;
  it->second.value -= std::min(by, it->second.value);
}

uint64_t WindowCounters::get(std::string_view key, int64_t now_s) const {
  const Probe p = probe(key);
  Shard& s = shard(p);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.entries.find(p);
  return it == s.entries.end() || it->second.expires_s <= now_s ? 0 : it->second.value;
}

}  // namespace wg::shared

#include "lua/invalidations.h"

#include <atomic>
#include <deque>
#include <mutex>

namespace wg::lua {
namespace {

std::atomic<uint64_t> generation{0};
std::mutex log_mu;
std::deque<std::string> log_keys;  // the last kKeptInvalidations keys; the back is `generation`

}  // namespace

uint64_t invalidation_generation() { return generation.load(std::memory_order_acquire); }

void invalidate_everywhere(std::string key) {
  std::lock_guard<std::mutex> lock(log_mu);
  log_keys.push_back(std::move(key));
  if (log_keys.size() > kKeptInvalidations) log_keys.pop_front();
  generation.fetch_add(1, std::memory_order_release);
}

bool invalidations_since(uint64_t since, std::vector<std::string>* keys) {
  std::lock_guard<std::mutex> lock(log_mu);
  const uint64_t now = generation.load(std::memory_order_relaxed);
  if (now - since > log_keys.size()) return false;
  for (size_t i = log_keys.size() - static_cast<size_t>(now - since); i < log_keys.size(); ++i) {
    keys->push_back(log_keys[i]);
  }
  return true;
}

}  // namespace wg::lua

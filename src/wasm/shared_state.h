// Proxy-Wasm state shared by every worker's VMs: the key-value store
// (get/set with compare-and-swap) and the shared queues. One process-wide
// instance each (SharedState::live()), behind a mutex: these calls are rare
// next to header work. A VM that only checks a configuration gets a scratch
// SharedState of its own, so a check never touches what live filters share.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wg::wasm {

class SharedData {
 public:
  static SharedData& instance();
  // False when the key is missing.
  bool get(std::string_view key, std::string* value, uint32_t* cas);
  // cas 0 sets unconditionally; otherwise it must match the current cas.
  bool set(std::string_view key, std::string_view value, uint32_t cas);

 private:
  struct Entry {
    std::string value;
    uint32_t cas = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  uint32_t next_cas_ = 1;
};

class SharedQueues {
 public:
  static SharedQueues& instance();
  // Registering an existing (vm_id, name) gives the same id: every worker's
  // instance of a filter registers its queue in on_configure.
  uint32_t register_queue(std::string_view vm_id, std::string_view name);
  // 0 when no such queue.
  uint32_t resolve(std::string_view vm_id, std::string_view name);
  enum class Result { Ok, NotFound, Empty };
  Result enqueue(uint32_t id, std::string_view data);
  Result dequeue(uint32_t id, std::string* data);
  // How many items were ever enqueued: a worker delivers on_queue_ready when
  // this moved since it last looked (one relaxed load per registration).
  uint64_t enqueued(uint32_t id);
  // The counter behind enqueued(id), for a worker to poll without the lock
  // (queues are never removed, so it stays valid); nullptr for no such queue.
  const std::atomic<uint64_t>* enqueued_counter(uint32_t id);

 private:
  struct Queue {
    std::string key;
    std::deque<std::string> items;
    std::atomic<uint64_t> enqueued{0};
  };
  static constexpr size_t kMaxItems = 10000;  // a queue nobody drains stops growing here
  std::mutex mu_;
  std::vector<std::unique_ptr<Queue>> queues_;  // id - 1
  std::unordered_map<std::string, uint32_t> by_key_;
};

// The store and the queues a VM reaches.
struct SharedState {
  SharedData data;
  SharedQueues queues;
  static SharedState& live();  // what every worker's VMs share
};

}  // namespace wg::wasm

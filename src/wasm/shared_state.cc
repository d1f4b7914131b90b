#include "wasm/shared_state.h"

namespace wg::wasm {

SharedState& SharedState::live() {
  static SharedState state;
  return state;
}

SharedData& SharedData::instance() { return SharedState::live().data; }

bool SharedData::get(std::string_view key, std::string* value, uint32_t* cas) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) return false;
  *value = it->second.value;
  *cas = it->second.cas;
  return true;
}

bool SharedData::set(std::string_view key, std::string_view value, uint32_t cas) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& e = entries_[std::string(key)];
  if (cas != 0 && cas != e.cas) return false;
  e.value.assign(value);
  e.cas = next_cas_++;
  if (next_cas_ == 0) next_cas_ = 1;  // 0 means "no cas"
  return true;
}

SharedQueues& SharedQueues::instance() { return SharedState::live().queues; }

static std::string queue_key(std::string_view vm_id, std::string_view name) {
  std::string k(vm_id);
  k.push_back('\0');
  k.append(name);
  return k;
}

uint32_t SharedQueues::register_queue(std::string_view vm_id, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = queue_key(vm_id, name);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) return it->second;
  auto q = std::make_unique<Queue>();
  q->key = key;
  queues_.push_back(std::move(q));
  uint32_t id = static_cast<uint32_t>(queues_.size());
  by_key_.emplace(std::move(key), id);
  return id;
}

uint32_t SharedQueues::resolve(std::string_view vm_id, std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_key_.find(queue_key(vm_id, name));
  return it == by_key_.end() ? 0 : it->second;
}

SharedQueues::Result SharedQueues::enqueue(uint32_t id, std::string_view data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || id > queues_.size()) return Result::NotFound;
  Queue& q = *queues_[id - 1];
  if (q.items.size() >= kMaxItems) q.items.pop_front();
  q.items.emplace_back(data);
  q.enqueued.fetch_add(1, std::memory_order_release);
  return Result::Ok;
}

SharedQueues::Result SharedQueues::dequeue(uint32_t id, std::string* data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || id > queues_.size()) return Result::NotFound;
  Queue& q = *queues_[id - 1];
  if (q.items.empty()) return Result::Empty;
  *data = std::move(q.items.front());
  q.items.pop_front();
  return Result::Ok;
}

uint64_t SharedQueues::enqueued(uint32_t id) {
  // Queues are never removed, so the pointer read under the lock stays valid.
  Queue* q;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (id == 0 || id > queues_.size()) return 0;
    q = queues_[id - 1].get();
  }
  return q->enqueued.load(std::memory_order_acquire);
}

const std::atomic<uint64_t>* SharedQueues::enqueued_counter(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (id == 0 || id > queues_.size()) return nullptr;
  return &queues_[id - 1]->enqueued;
}

}  // namespace wg::wasm

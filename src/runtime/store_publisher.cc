#include "runtime/store_publisher.h"

#include <chrono>

namespace wg::runtime {

void StorePublisher::start() { thread_ = std::thread([this] { run(); }); }

void StorePublisher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StorePublisher::changed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = true;
  }
  wake_.notify_all();
}

void StorePublisher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return pending_ || stopping_; });
    if (stopping_) return;
    pending_ = false;
    lock.unlock();
    // The latest contents: every write committed so far, whichever woke us.
    reloader_.publish_store(*source_());
    lock.lock();
    // Writes arriving now wait for the interval, then go out together.
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; });
  }
}

}  // namespace wg::runtime

#include "runtime/store_publisher.h"

#include <algorithm>
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
    auto began = std::chrono::steady_clock::now();
    reloader_.publish_store(source_());
    auto took = std::chrono::steady_clock::now() - began;
    lock.lock();
    // Writes arriving now wait, then go out together: for the interval, or
    // as long as the build took when that is longer, so a big config's
    // rebuilds take at most half the admin side's time from its writes.
    auto pause = std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds(interval_ms_), took);
    wake_.wait_for(lock, pause, [this] { return stopping_; });
  }
}

}  // namespace wg::runtime

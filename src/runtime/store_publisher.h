// Database mode: Admin API writes commit to the store and answer at once;
// this thread publishes the store's contents through the reloader's one
// build-and-publish path. The first write after a quiet spell is published
// at once; writes that arrive while a build runs, or within the interval
// after it, are published together by the next build, so a burst of 1,000
// writes costs a handful of rebuilds, not 1,000, and the last write of a
// burst is live within one interval plus one build.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "config/value.h"
#include "runtime/reloader.h"

namespace wg::runtime {

class StorePublisher {
 public:
  using Source = std::function<std::shared_ptr<const config::Value>()>;
  StorePublisher(Reloader& reloader, Source source, int interval_ms)
      : reloader_(reloader), source_(std::move(source)), interval_ms_(interval_ms) {}
  ~StorePublisher() { stop(); }
  StorePublisher(const StorePublisher&) = delete;
  StorePublisher& operator=(const StorePublisher&) = delete;

  void start();
  void stop();
  // A write was committed: publish the store's contents soon.
  void changed();

 private:
  void run();

  Reloader& reloader_;
  Source source_;
  int interval_ms_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace wg::runtime

// One epoll instance per worker, edge-triggered. Handlers record readiness
// and make progress until EAGAIN, as nginx does.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

namespace wg::core {

class IoHandler {
 public:
  virtual void on_io(uint32_t events) = 0;

 protected:
  ~IoHandler() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool add(int fd, IoHandler* h, uint32_t events);
  void remove(int fd);
  // Waits up to timeout_ms and dispatches what is ready. Refreshes now_ms().
  void run_once(int timeout_ms);
  uint64_t now_ms() const { return now_ms_; }
  void update_time();

 private:
  int epfd_;
  uint64_t now_ms_ = 0;
  epoll_event events_[256];
};

}  // namespace wg::core

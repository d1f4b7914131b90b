#include "core/event_loop.h"

#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace wg::core {

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) { update_time(); }

EventLoop::~EventLoop() { ::close(epfd_); }

bool EventLoop::add(int fd, IoHandler* h, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::update_time() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  now_ms_ = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void EventLoop::run_once(int timeout_ms) {
  int n = epoll_wait(epfd_, events_, 256, timeout_ms);
  update_time();
  for (int i = 0; i < n; ++i) {
    static_cast<IoHandler*>(events_[i].data.ptr)->on_io(events_[i].events);
  }
}

}  // namespace wg::core

#include "upstream/pool.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wg::upstream {

void Conn::on_io(uint32_t events) {
  if (closed) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) writable = true;
  if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) hup = true;
  // A TLS read that waited for the socket to take a write (see Stream).
  if ((events & EPOLLOUT) && io.read_wants_write()) readable = true;
  if (owner != nullptr) {
    owner->on_upstream_io();
    return;
  }
  // Idle. An edge may be left over from the last exchange (writable, or
  // bytes we already read): only a close, an error or unasked-for bytes make
  // the connection unsafe to reuse.
  if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
    pool->close(this);
    return;
  }
  if (events & EPOLLIN) {
    char probe;
    ssize_t n = ::recv(io.fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      readable = false;
      return;
    }
    pool->close(this);
  }
}

void Conn::reset() {
  io.attach(-1);
  tcp_connected = connected = readable = writable = hup = closed = false;
  requests = 0;
  owner = nullptr;
  pool = nullptr;
  endpoint.clear();
  key.clear();
  in = core::Buffer();
  idle_deadline = 0;
}

Pool::~Pool() {
  for (auto& [ep, list] : idle_) {
    for (Conn* c : list) {
      c->io.finish();
      ::close(c->io.fd());
      buffers_.release(c->in);
      delete c;
    }
  }
  collect();
  for (Conn* c : spare_) delete c;
}

Conn* Pool::take_idle(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  Conn* c = it->second.back();  // most recently used: least likely to be closed by the peer
  it->second.pop_back();
  return c;
}

Conn* Pool::connect(const sockaddr* addr, socklen_t len, const std::string& endpoint, const std::string& key,
                    int* err) {
  int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, addr, len);
  if (rc != 0 && errno != EINPROGRESS) {
    *err = errno;
    ::close(fd);
    return nullptr;
  }
  Conn* c;
  if (spare_.empty()) {
    c = new Conn();
  } else {
    c = spare_.back();
    spare_.pop_back();
    c->reset();
  }
  c->io.attach(fd);
  c->pool = this;
  c->endpoint = endpoint;
  c->key = key;
  c->tcp_connected = rc == 0;  // connected: once the session has checked (and TLS is up)
  c->writable = rc == 0;
  loop_.add(fd, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  return c;
}

void Pool::put_idle(Conn* c, uint64_t idle_deadline) {
  auto& list = idle_[c->key];
  if (list.size() >= max_idle_per_endpoint_) {
    close(c);
    return;
  }
  c->owner = nullptr;
  c->idle_deadline = idle_deadline;
  buffers_.release(c->in);
  list.push_back(c);
}

void Pool::remove_idle(Conn* c) {
  auto it = idle_.find(c->key);
  if (it == idle_.end()) return;
  auto& list = it->second;
  auto pos = std::find(list.begin(), list.end(), c);
  if (pos != list.end()) list.erase(pos);
}

void Pool::close(Conn* c) {
  if (c->closed) return;
  if (c->owner == nullptr) remove_idle(c);
  c->closed = true;
  c->owner = nullptr;
  c->io.finish();
  ::close(c->io.fd());
  c->io.attach(-1);
  buffers_.release(c->in);
  graveyard_.push_back(c);
}

void Pool::sweep(uint64_t now_ms) {
  for (auto& [ep, list] : idle_) {
    for (size_t i = 0; i < list.size();) {
      if (list[i]->idle_deadline <= now_ms) {
        Conn* c = list[i];
        list.erase(list.begin() + static_cast<long>(i));
        c->closed = true;
        c->io.finish();
        ::close(c->io.fd());
        c->io.attach(-1);
        buffers_.release(c->in);
        graveyard_.push_back(c);
      } else {
        ++i;
      }
    }
  }
}

void Pool::close_all_idle() { sweep(UINT64_MAX); }

void Pool::collect() {
  for (Conn* c : graveyard_) {
    if (spare_.size() < 1024) {
      spare_.push_back(c);
    } else {
      delete c;
    }
  }
  graveyard_.clear();
}

size_t Pool::idle_count() const {
  size_t n = 0;
  for (const auto& [ep, list] : idle_) n += list.size();
  return n;
}

}  // namespace wg::upstream

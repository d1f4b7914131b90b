// The client connection's socket work for HTTP/1.1: open, read, write,
// lingering close. The walk of the request is the session's.
#include "proxy/http1_downstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "proxy/wire.h"
#include "proxy/worker_context.h"

namespace wg::proxy {

void Http1Downstream::open(int fd, const sockaddr_storage& peer, const ListenerInfo& listener, SSL* ssl) {
  stream.attach(fd);
  listen_port = listener.port;
  https = listener.tls != nullptr;
  if (https) stream.start_tls(ssl);
  peer_closed = false;
  hup_seen = false;
  readable = false;
  writable = true;
  req_ready = 0;
  close_after = false;
  clear_out();
  if (peer.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    inet_ntop(AF_INET, &v4->sin_addr, client_ip, sizeof client_ip);
    client_port = ntohs(v4->sin_port);
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    inet_ntop(AF_INET6, &v6->sin6_addr, client_ip, sizeof client_ip);
    client_port = ntohs(v6->sin6_port);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  parser.reset();
}

void Http1Downstream::close(core::BufferPool& buffers) {
  const int fd = stream.fd();
  stream.finish();
  ::close(fd);
  stream.attach(-1);
  buffers.release(in);
}

void Http1Downstream::on_events(uint32_t events) {
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hup_seen = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
  if ((events & EPOLLOUT) && stream.read_wants_write()) readable = true;
}

bool Http1Downstream::read(core::BufferPool& buffers) {
  if (!readable) return false;
  if (in.data == nullptr) buffers.acquire(in);
  if (in.end == in.cap) in.compact();
  if (in.end == in.cap) return false;
  size_t room = in.cap - in.end;
  ssize_t n = stream.read(in.data + in.end, room);
  if (n > 0) {
    in.end += static_cast<size_t>(n);
    // A short read drained the socket: skip the read that would only say
    // EAGAIN (the next arrival raises a new edge), unless the peer's close
    // is pending, which must still be read.
    if (stream.drained(static_cast<size_t>(n), room) && !hup_seen) readable = false;
    return true;
  }
  if (would_block(n)) {
    readable = false;
    return false;
  }
  peer_closed = true;
  return false;
}

bool Http1Downstream::drain_until_closed() {
  char sink[4096];
  while (readable) {
    ssize_t n = ::read(stream.fd(), sink, sizeof sink);  // past TLS: bytes to drop
    if (n > 0) continue;
    if (would_block(n)) {
      readable = false;
      break;
    }
    return false;
  }
  return true;
}

void Http1Downstream::finish_writing() {
  stream.finish();  // TLS: close_notify first
  ::shutdown(stream.fd(), SHUT_WR);
}

ssize_t Http1Downstream::write_out(const char* body, size_t body_len) {
  const size_t head_left = out.size() - out_off;
  iovec iov[2] = {{out.data() + out_off, head_left}, {const_cast<char*>(body), body_len}};
  ssize_t n = stream.writev(iov, body_len > 0 ? 2 : 1);
  if (n < 0) {
    if (would_block(n)) writable = false;
    return n;
  }
  const size_t sent = static_cast<size_t>(n);
  out_off += sent < head_left ? sent : head_left;
  return n;
}

ssize_t Http1Downstream::write_body(const char* body, size_t len) {
  ssize_t n = stream.write(body, len);
  if (would_block(n)) writable = false;
  return n;
}

}  // namespace wg::proxy

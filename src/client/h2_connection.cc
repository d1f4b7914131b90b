#include "client/h2_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "tls/client.h"

namespace wg::client {

H2Connection::H2Connection(core::EventLoop& loop, const Endpoint& ep, const tls::ClientTls* tls,
                           const std::string& server_name)
    : loop_(loop) {
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    failure_ = "cannot make a socket";
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
  if ((rc != 0 && errno != EINPROGRESS) || !loop_.add(fd, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
    failure_ = "connection refused";
    ::close(fd);
    return;
  }
  fd_ = fd;
  stream_.attach(fd_);
  if (tls != nullptr) {
    tls_ = true;
    SSL* ssl = tls->connect(server_name);
    static const unsigned char kAlpn[] = {2, 'h', '2'};
    if (ssl != nullptr) SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn);
    stream_.start_tls(ssl);
  }
}

// The owner goes away with its streams: no sink is told.
H2Connection::~H2Connection() { close_socket(); }

void H2Connection::close_socket() {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  stream_.finish();
  ::close(fd_);
  fd_ = -1;
}

void H2Connection::die(const char* why) {
  if (*failure_ == '\0') failure_ = why;
  close_socket();
  session_.fail_all();
}

bool H2Connection::ready() {
  if (ready_) return true;
  if (!connected_) return false;  // nothing is written (TLS does not start) before the TCP connect is done
  int h = stream_.handshake();
  if (h < 0) {
    WG_LOG(Warn, "gRPC upstream TLS handshake failed: %s", stream_.tls_error());
    die("TLS handshake failed");
    return false;
  }
  if (h == 0) return false;
  if (tls_) {
    const unsigned char* proto = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(stream_.ssl(), &proto, &len);
    if (len != 2 || std::memcmp(proto, "h2", 2) != 0) {
      die("the upstream did not agree to HTTP/2 (ALPN)");
      return false;
    }
  }
  ready_ = true;
  return true;
}

void H2Connection::flush() {
  if (fd_ < 0 || !ready()) return;
  for (;;) {
    std::string_view out = session_.output();
    if (out.empty()) return;
    ssize_t n = stream_.write(out.data(), out.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN) return;  // the next writable edge
      die("connection lost");
      return;
    }
    session_.wrote(static_cast<size_t>(n));
  }
}

void H2Connection::on_io(uint32_t events) {
  if (fd_ < 0) return;
  if (events & EPOLLERR) {
    die(ready_ ? "connection lost" : "connection refused");
    return;
  }
  if (events & EPOLLOUT) connected_ = true;
  if (!ready()) return;
  char buf[16384];
  for (;;) {
    ssize_t n = stream_.read(buf, sizeof buf);
    if (n > 0) {
      heard_ = true;
      if (!session_.feed(buf, static_cast<size_t>(n))) {
        flush();  // nghttp2's GOAWAY, if the socket takes it
        die("HTTP/2 protocol error from the upstream");
        return;
      }
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    die("connection closed by the upstream");
    return;
  }
  flush();
  // After a GOAWAY (the upstream's, or nghttp2's own for a protocol error)
  // nothing more can happen here: streams still open will not be answered.
  if (fd_ >= 0 && !session_.busy()) die("the connection was ended with a GOAWAY");
}

}  // namespace wg::client

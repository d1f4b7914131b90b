// One byte stream over a socket: plain, or TLS over it. The session's reads
// and writes on the client and upstream sockets all go through here, so TLS
// is not a second I/O path (and HTTP/2 can later sit on the same seam).
//
// Calls keep the socket calls' contract: bytes moved, 0 at the peer's
// close, -1 with errno (EAGAIN when nothing can move until an epoll edge).
// The plain case is one inline branch in front of the system call: the
// TLS code is out of line.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>

typedef struct ssl_st SSL;

namespace wg::transport {

class Stream {
 public:
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { free_tls(); }

  // A plain stream on fd (no TLS yet; the caller owns fd).
  void attach(int fd) {
    free_tls();
    fd_ = fd;
    tls_done_ = false;
    tls_failed_ = false;
    read_wants_write_ = false;
  }
  // Runs TLS over the stream from now on; takes ownership of ssl (already
  // in accept or connect state). A null ssl (OpenSSL could not make one)
  // fails the handshake rather than leaving the stream plain.
  void start_tls(SSL* ssl);
  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }
  SSL* ssl() const { return ssl_; }

  ssize_t read(char* buf, size_t len) {
    if (ssl_ == nullptr) [[likely]] return ::read(fd_, buf, len);
    return tls_read(buf, len);
  }
  ssize_t write(const char* buf, size_t len) {
    if (ssl_ == nullptr) [[likely]] return ::write(fd_, buf, len);
    return tls_write(buf, len);
  }
  ssize_t writev(const iovec* iov, int cnt) {
    if (ssl_ == nullptr) [[likely]] return ::writev(fd_, iov, cnt);
    return tls_writev(iov, cnt);
  }
  // Whether a read of n bytes into room bytes proves the socket is drained,
  // so the read that would only say EAGAIN can be skipped. Not over TLS: a
  // read returns one record at most, and more may wait in the socket.
  bool drained(size_t n, size_t room) const { return ssl_ == nullptr && n < room; }

  // The TLS handshake, driven on every readiness event until done:
  // 1 done (or plain), 0 waiting for the socket, -1 failed (see tls_error()).
  int handshake() {
    if (ssl_ == nullptr || tls_done_) return tls_failed_ ? -1 : 1;
    return tls_handshake();
  }
  // A TLS read was blocked on the socket becoming writable (a handshake
  // message or ticket on its way out): a writable edge is also a read edge.
  bool read_wants_write() const { return read_wants_write_; }
  // Why the last TLS call failed, for the log ("" when it did not).
  const char* tls_error() const { return tls_error_; }
  // Best-effort close_notify; frees the TLS state (the caller closes fd).
  void finish();
  // Half-close: no more bytes from us (TLS: close_notify, then the socket's
  // FIN); reading goes on until the peer closes too. For byte tunnels.
  void shutdown_write();

 private:
  ssize_t tls_read(char* buf, size_t len);
  ssize_t tls_write(const char* buf, size_t len);
  ssize_t tls_writev(const iovec* iov, int cnt);
  int tls_handshake();
  ssize_t tls_result(int rc, bool reading);
  void free_tls();

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool tls_done_ = false;
  bool read_wants_write_ = false;
  bool tls_failed_ = false;  // start_tls had no SSL to start
  const char* tls_error_ = "";
};

}  // namespace wg::transport

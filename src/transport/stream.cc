#include "transport/stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace wg::transport {
namespace {
// TLS's largest record payload.
constexpr size_t kCoalesce = 16384;
}  // namespace

void Stream::start_tls(SSL* ssl) {
  free_tls();
  ssl_ = ssl;
  tls_done_ = false;
  read_wants_write_ = false;
  tls_error_ = "";
  tls_failed_ = ssl == nullptr;
  if (tls_failed_) {
    tls_error_ = "cannot make a TLS connection";
    return;
  }
  SSL_set_fd(ssl_, fd_);
  // Partial writes and retries with the same bytes from a moved buffer:
  // the session retries a write from wherever its pending bytes now are.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

void Stream::free_tls() {
  if (ssl_ == nullptr) return;
  SSL_free(ssl_);
  ssl_ = nullptr;
}

void Stream::finish() {
  if (ssl_ != nullptr && tls_done_) {
    SSL_set_quiet_shutdown(ssl_, 0);
    SSL_shutdown(ssl_);  // one try: a close_notify if the socket takes it
  }
  ERR_clear_error();
  free_tls();
}

void Stream::shutdown_write() {
  if (ssl_ != nullptr && tls_done_) {
    // One try: OpenSSL still reads after sending close_notify, so the other
    // direction keeps flowing.
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
  ::shutdown(fd_, SHUT_WR);
}

// Maps an SSL call's result onto the socket contract.
ssize_t Stream::tls_result(int rc, bool reading) {
  if (rc > 0) return rc;
  const int err = SSL_get_error(ssl_, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      if (reading) read_wants_write_ = false;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      if (reading) read_wants_write_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;  // close_notify: the peer's orderly close
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (errno == 0) return 0;  // EOF without close_notify: a close all the same
      return -1;
    default: {
      unsigned long e = ERR_peek_last_error();
      const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
      tls_error_ = r != nullptr ? r : "TLS error";
      ERR_clear_error();
      errno = EPROTO;
      return -1;
    }
  }
}

ssize_t Stream::tls_read(char* buf, size_t len) {
  errno = 0;
  read_wants_write_ = false;
  return tls_result(SSL_read(ssl_, buf, static_cast<int>(len > INT32_MAX ? INT32_MAX : len)), true);
}

ssize_t Stream::tls_write(const char* buf, size_t len) {
  if (len == 0) return 0;
  errno = 0;
  return tls_result(SSL_write(ssl_, buf, static_cast<int>(len > INT32_MAX ? INT32_MAX : len)), false);
}

// Pieces are sealed together, up to one record's worth: head and body
// leave in one segment as with the plain writev, and a retry after a
// blocked write always offers at least the bytes of the pending record
// (OpenSSL refuses a retry with fewer).
ssize_t Stream::tls_writev(const iovec* iov, int cnt) {
  if (cnt == 1) return tls_write(static_cast<const char*>(iov[0].iov_base), iov[0].iov_len);
  char joined[kCoalesce];
  size_t off = 0;
  for (int i = 0; i < cnt && off < kCoalesce; ++i) {
    const size_t take = iov[i].iov_len < kCoalesce - off ? iov[i].iov_len : kCoalesce - off;
    std::memcpy(joined + off, iov[i].iov_base, take);
    off += take;
  }
  return tls_write(joined, off);
}

int Stream::tls_handshake() {
  errno = 0;
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    tls_done_ = true;
    return 1;
  }
  const int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return 0;
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    tls_error_ = X509_verify_cert_error_string(verify);
  } else {
    unsigned long e = ERR_peek_last_error();
    const char* r = e != 0 ? ERR_reason_error_string(e) : nullptr;
    tls_error_ = r != nullptr ? r : (err == SSL_ERROR_SYSCALL ? "connection closed during the handshake" : "handshake failed");
  }
  ERR_clear_error();
  return -1;
}

}  // namespace wg::transport

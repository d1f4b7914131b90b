// One outbound HTTP/2 connection on a worker's event loop: a non-blocking
// connect, TLS with ALPN "h2" when asked (else cleartext h2c with prior
// knowledge), then an H2Session fed from the socket and flushed to it.
// Streams are multiplexed by the session; whoever opens them (GrpcClient)
// picks a connection and calls flush() after queueing frames.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "client/h2_session.h"
#include "client/target.h"
#include "core/event_loop.h"
#include "transport/stream.h"

namespace wg::tls {
class ClientTls;
}

namespace wg::client {

class H2Connection final : public core::IoHandler {
 public:
  // Starts connecting to ep. tls: null for h2c; server_name is its SNI.
  // A connection that cannot even start is returned dead (its streams,
  // none yet, would hear on_close(lost)).
  H2Connection(core::EventLoop& loop, const Endpoint& ep, const tls::ClientTls* tls, const std::string& server_name);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  H2Session& session() { return session_; }
  // Writes what the session has queued, as far as the socket takes it.
  void flush();
  bool dead() const { return fd_ < 0; }
  // Whether the upstream has sent anything yet (its SETTINGS come first):
  // until then the connection is still being set up.
  bool heard() const { return heard_; }
  // Closes the connection: every open stream hears on_close(lost).
  void die(const char* why);
  const char* failure() const { return failure_; }  // why it died, for the caller's status message
  void on_io(uint32_t events) override;

 private:
  bool ready();  // connected, TLS handshake and ALPN done
  void close_socket();

  core::EventLoop& loop_;
  int fd_ = -1;
  transport::Stream stream_;
  H2Session session_;
  bool tls_ = false;
  bool connected_ = false;  // the TCP connect finished (the first writable edge)
  bool ready_ = false;
  bool heard_ = false;
  const char* failure_ = "";
};

}  // namespace wg::client

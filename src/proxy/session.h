// One downstream HTTP/1.1 connection: the client's socket (plain or TLS,
// in Http1Downstream) and the request flow it runs, one exchange at a time.
//
// The session is a state machine driven by readiness on the client socket
// (and, through its flow, the upstream's). drive() makes all the progress
// it can, then returns; there is no blocking. The connection's own states
// are the TLS handshake, reading a request head, the lingering close, and
// the byte tunnel a WebSocket upgrade turns it into (session_tunnel.cc);
// while an exchange is on, its RequestFlow (request_flow.h) moves it.
#pragma once

#include <cstdint>
#include <memory>

#include "config/snapshot.h"
#include "core/event_loop.h"
#include "proxy/http1_downstream.h"
#include "proxy/request_flow.h"
#include "proxy/tunnel.h"
#include "upstream/pool.h"

namespace wg::proxy {

class WorkerContext;
struct ListenerInfo;

class Session final : public core::IoHandler, public FlowOwner, public upstream::ConnOwner {
 public:
  Session() = default;
  void open(WorkerContext* worker, int fd, const sockaddr_storage& peer, const ListenerInfo& listener);
  void on_io(uint32_t events) override;
  // Called by the worker's periodic sweep.
  void check_timeout(uint64_t now_ms);
  // Close now if idle between requests (used when draining).
  void close_if_idle();
  // Close now, whatever the state (drain timeout).
  void close() override;
  // What the connection is doing, as nginx counts them: reading a request
  // head, busy with a request, or idle between requests.
  enum class Activity : uint8_t { Reading, Writing, Waiting };
  Activity activity() const {
    if (flow_.in_request()) return Activity::Writing;
    return down_.idle() ? Activity::Waiting : Activity::Reading;
  }

  Session* prev = nullptr;  // worker's intrusive list of live sessions
  Session* next = nullptr;
  bool closed = false;

 private:
  // Handshake: TLS, before the first request head. Exchange: the flow has
  // a request. Closing: the lingering close after the last response.
  // Tunnel: the upstream switched protocols (101): bytes both ways until
  // the connection closes.
  enum class State : uint8_t { Handshake, ReadHead, Exchange, Closing, Tunnel };

  void drive() override;
  void exchange_finished() override;
  bool step_handshake();
  bool step_read_head();
  void reject_head(int status);
  void update_deadline();

  // WebSocket tunnels (session_tunnel.cc): the flow hands over the
  // upstream connection, whose events come here from then on.
  void start_tunnel(const TunnelHandover& h) override;
  void on_upstream_io() override {
    if (!closed) drive();
  }
  bool step_tunnel();
  uint64_t tunnel_timeout_ms() const;
  void tunnel_timed_out();
  void end_tunnel();

  WorkerContext* worker_ = nullptr;
  // The client connection: its socket, reads (the request head and body)
  // and writes (response heads and bodies).
  Http1Downstream down_;
  RequestFlow flow_;
  State state_ = State::ReadHead;
  uint64_t deadline_ = 0;
  // The running configuration while the TLS handshake picks a certificate.
  std::shared_ptr<const config::Snapshot> handshake_snap_;
  // After the upstream switched protocols: the tunnel, and its upstream
  // side as the flow handed it over.
  std::unique_ptr<Tunnel> tunnel_;
  TunnelHandover tunnel_up_;
};

}  // namespace wg::proxy

// WebSocket: a request that asks for `Upgrade: websocket` goes upstream
// with the upgrade headers (Kong's), and when the upstream switches
// protocols (101) the connection becomes a byte tunnel (proxy/tunnel) to
// that upstream connection until both ends have closed, one fails, or it
// idles past the service's timeouts. Only then does the request end: the
// handlers' log phase and the access log run once, with status 101 and the
// bytes of the whole tunnel.
#include "core/log.h"
#include "proxy/session.h"
#include "proxy/tunnel.h"
#include "proxy/worker_context.h"

namespace wg::proxy {

// The 101 head is on its way to the client (client_out_ was flushed before
// this is asked): once the whole request went upstream, every byte after
// it is the tunnel's. A body sent with the upgrade request is sent whole
// first. False while that body is still going.
bool Session::start_tunnel() {
  if (!req_done_) return false;
  TunnelEnd client;
  client.io = &client_;
  client.in = &in_;  // may already hold the client's first frames
  client.readable = &readable_;
  client.writable = &writable_;
  client.hup = &hup_seen_;
  client.moved = &x_->log.request_size;
  TunnelEnd upstream;
  upstream.io = &up_->io;
  upstream.in = &up_->in;  // may already hold the upstream's first frames
  upstream.readable = &up_->readable;
  upstream.writable = &up_->writable;
  upstream.hup = &up_->hup;
  upstream.moved = &x_->log.bytes_sent;
  tunnel_ = std::make_unique<Tunnel>(client, upstream);  // once per upgrade, not per request
  close_after_ = true;  // the connection ends with the tunnel
  state_ = State::Tunnel;
  return true;
}

bool Session::step_tunnel() {
  switch (tunnel_->pump()) {
    case Tunnel::Status::Idle:
      deadline_ = worker_->loop().now_ms() + tunnel_timeout_ms();
      return false;
    case Tunnel::Status::Moved:
      deadline_ = worker_->loop().now_ms() + tunnel_timeout_ms();
      return true;
    case Tunnel::Status::Done:
      break;
    case Tunnel::Status::Failed:
      WG_LOG(Info, "client %s: tunnel to %s ended by a reset or an I/O error", client_ip_, up_->endpoint.c_str());
      break;
  }
  close();  // logs the request, closes both connections
  return true;
}

// nginx's timeouts for an upgraded connection: while bytes wait for the
// upstream, the service's write_timeout; while they wait for the client,
// the client timeout (nginx's send_timeout); otherwise the tunnel may idle
// for the service's read_timeout. Any event on either side restarts it.
uint64_t Session::tunnel_timeout_ms() const {
  if (tunnel_->upstream_blocked()) return static_cast<uint64_t>(service_->cfg.write_timeout_ms);
  if (tunnel_->client_blocked()) return static_cast<uint64_t>(worker_->settings().client_timeout_ms);
  return static_cast<uint64_t>(service_->cfg.read_timeout_ms);
}

void Session::tunnel_timed_out() {
  WG_LOG(Info, "client %s: tunnel to %s idle past its timeout: closed", client_ip_, up_->endpoint.c_str());
  close();
}

}  // namespace wg::proxy

// WebSocket: a request that asks for `Upgrade: websocket` goes upstream
// with the upgrade headers (Kong's), and when the upstream switches
// protocols (101) the request flow hands the upstream connection over
// (RequestFlow::switch_protocols) and the connection becomes a byte tunnel
// (proxy/tunnel) between the client and that upstream connection until
// both ends have closed, one fails, or it idles past the service's
// timeouts. Only then does the request end: the handlers' log phase and
// the access log run once (RequestFlow::abandon), with status 101 and the
// bytes of the whole tunnel.
#include "core/log.h"
#include "proxy/session.h"
#include "proxy/tunnel.h"
#include "proxy/worker_context.h"

namespace wg::proxy {

// The 101 head is on its way to the client and the whole request went
// upstream: every byte after them is the tunnel's.
void Session::start_tunnel(const TunnelHandover& h) {
  tunnel_up_ = h;
  upstream::Conn* up = h.upstream;
  up->owner = this;  // its events come to the connection from here
  TunnelEnd client;
  client.io = &down_.stream;
  client.in = &down_.in;  // may already hold the client's first frames
  client.readable = &down_.readable;
  client.writable = &down_.writable;
  client.hup = &down_.hup_seen;
  client.moved = h.client_bytes;
  TunnelEnd upstream;
  upstream.io = &up->io;
  upstream.in = &up->in;  // may already hold the upstream's first frames
  upstream.readable = &up->readable;
  upstream.writable = &up->writable;
  upstream.hup = &up->hup;
  upstream.moved = h.upstream_bytes;
  tunnel_ = std::make_unique<Tunnel>(client, upstream);  // once per upgrade, not per request
  down_.close_after = true;  // the connection ends with the tunnel
  state_ = State::Tunnel;
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
      WG_LOG(Info, "client %s: tunnel to %s ended by a reset or an I/O error", down_.client_ip,
             tunnel_up_.upstream->endpoint.c_str());
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
  if (tunnel_->upstream_blocked()) return tunnel_up_.write_timeout_ms;
  if (tunnel_->client_blocked()) return static_cast<uint64_t>(worker_->settings().client_timeout_ms);
  return tunnel_up_.read_timeout_ms;
}

void Session::tunnel_timed_out() {
  WG_LOG(Info, "client %s: tunnel to %s idle past its timeout: closed", down_.client_ip,
         tunnel_up_.upstream->endpoint.c_str());
  close();
}

// The connection closes (after the flow logged the request): the tunnel
// and its upstream connection go, which is never reused.
void Session::end_tunnel() {
  tunnel_.reset();
  worker_->upstreams().close(tunnel_up_.upstream);
  tunnel_up_ = TunnelHandover();
}

}  // namespace wg::proxy

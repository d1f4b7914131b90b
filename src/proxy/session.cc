// The connection's lifecycle: the TLS handshake, reading request heads,
// handing each to the flow, keep-alive between exchanges, the lingering
// close, and the timeouts of those states.
#include "proxy/session.h"

#include "core/log.h"
#include "proxy/worker_context.h"

namespace wg::proxy {
namespace {
constexpr uint64_t kLingerMs = 2000;
}  // namespace

// ---------------------------------------------------------------- lifecycle

void Session::open(WorkerContext* worker, int fd, const sockaddr_storage& peer, const ListenerInfo& listener) {
  worker_ = worker;
  SSL* ssl = nullptr;
  if (listener.tls != nullptr) {
    // The handshake picks a certificate of the running configuration: the
    // session holds that snapshot until the handshake is over.
    handshake_snap_ = worker->snapshot();
    ssl = listener.tls->accept(worker->certificates());
  }
  down_.open(fd, peer, listener, ssl);
  flow_.attach(worker, this, &down_);
  closed = false;
  state_ = down_.https ? State::Handshake : State::ReadHead;
  deadline_ = worker->loop().now_ms() + static_cast<uint64_t>(worker->settings().client_timeout_ms);
  worker->loop().add(fd, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

void Session::on_io(uint32_t events) {
  if (closed) return;
  down_.on_events(events);
  drive();
}

void Session::close() {
  if (closed) return;
  flow_.abandon();  // a tunnelled request is logged here, with the tunnel's bytes
  closed = true;
  if (tunnel_) end_tunnel();
  down_.close(worker_->buffers());
  handshake_snap_.reset();
  worker_->session_closed(this);
}

void Session::close_if_idle() {
  if ((state_ == State::ReadHead && down_.idle()) || state_ == State::Handshake) close();
}

// The single place that moves the connection forward. Each step returns
// true when it changed something; we stop when nothing can move until an
// event.
void Session::drive() {
  for (;;) {
    if (closed) return;
    bool progress = false;
    switch (state_) {
      case State::Handshake:
        progress = step_handshake();
        break;
      case State::ReadHead:
        progress = step_read_head();
        break;
      case State::Exchange:
        progress = flow_.step();
        break;
      case State::Closing:
      case State::Tunnel:
        // The tunnel an upgrade made, or the lingering close. (One case
        // for the two keeps this switch a compare tree rather than a jump
        // table: ~19 instructions less per plain request, callgrind.)
        if (state_ == State::Tunnel) {
          progress = step_tunnel();
          break;
        }
        // Lingering close: the client reads the whole answer first.
        if (!down_.drain_until_closed()) {
          close();
          return;
        }
        break;
    }
    if (!progress) break;
  }
  if (!closed) update_deadline();
}

// The flow finished its exchange: read the next request, or close when
// the exchange said so or the worker drains.
void Session::exchange_finished() {
  if (down_.close_after || worker_->draining()) {
    // Half-close, then linger so the client reads the whole answer.
    down_.finish_writing();
    state_ = State::Closing;
    deadline_ = worker_->loop().now_ms() + kLingerMs;
    return;
  }
  state_ = State::ReadHead;
  down_.next_request();
}

// ---------------------------------------------------------------- request head

// The TLS handshake, before the first request: any readiness moves it on.
bool Session::step_handshake() {
  const int done = down_.stream.handshake();
  if (done == 0) return false;
  if (done < 0) {
    WG_LOG(Info, "client %s: TLS handshake failed: %s", down_.client_ip, down_.stream.tls_error());
    close();
    return true;
  }
  state_ = State::ReadHead;
  handshake_snap_.reset();
  return true;
}

bool Session::step_read_head() {
  if (!down_.idle()) {
    flow_.head_arriving();
    size_t max_head = worker_->settings().max_header_size;
    auto st = down_.parse_head(max_head);
    if (st == http::ParseStatus::Complete) {
      state_ = State::Exchange;
      flow_.begin_request();
      return true;
    }
    if (st == http::ParseStatus::Error) {
      WG_LOG(Info, "client %s: bad request (%s)", down_.client_ip, down_.parser.error_reason());
      reject_head(down_.parser.error_status());
      return true;
    }
    if (down_.head_too_large()) {
      reject_head(431);
      return true;
    }
  }
  if (down_.read(worker_->buffers())) return true;
  if (down_.peer_closed) {
    close();
    return true;
  }
  // Idle keep-alive connections give their buffer back to the pool.
  down_.release_idle_buffer(worker_->buffers());
  return false;
}

// A head that cannot be parsed, or did not arrive in time: the flow
// answers it, and the connection closes after.
void Session::reject_head(int status) {
  state_ = State::Exchange;
  flow_.reject_head(status);
}

// ---------------------------------------------------------------- timeouts

void Session::update_deadline() {
  const uint64_t now = worker_->loop().now_ms();
  const auto& s = worker_->settings();
  uint64_t t = static_cast<uint64_t>(s.client_timeout_ms);
  switch (state_) {
    case State::ReadHead:
      if (down_.idle()) {
        t = static_cast<uint64_t>(s.keepalive_timeout_ms);
        break;
      }
      // A head must arrive whole within the timeout from its first byte
      // (nginx's client_header_timeout): trickling bytes does not extend it.
      deadline_ = flow_.start_ms() + static_cast<uint64_t>(s.client_timeout_ms);
      return;
    case State::Exchange:
      t = flow_.timeout_ms();
      break;
    case State::Handshake:
      break;
    case State::Closing:
      return;  // fixed linger deadline
    case State::Tunnel:
      return;  // step_tunnel keeps it (a call here would cost every request)
  }
  deadline_ = now + t;
}

void Session::check_timeout(uint64_t now_ms) {
  if (closed || now_ms < deadline_) return;
  switch (state_) {
    case State::ReadHead:
      if (down_.idle()) {
        close();  // idle between requests
        return;
      }
      WG_LOG(Info, "client %s: request head not complete within %d ms", down_.client_ip,
             worker_->settings().client_timeout_ms);
      reject_head(408);
      break;
    case State::Handshake:
    case State::Closing:
      close();
      return;
    case State::Exchange:
      flow_.on_timeout();
      break;
    case State::Tunnel:
      tunnel_timed_out();
      return;
  }
  drive();
}

}  // namespace wg::proxy

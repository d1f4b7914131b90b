#include "proxy/worker_context.h"

#include <algorithm>

#include "proxy/session.h"

namespace wg::proxy {

WorkerContext::WorkerContext(const core::Settings& settings)
    : settings_(settings),
      buffers_(std::max<size_t>(16384, settings.max_header_size + 1024)),
      pool_(loop_, buffers_),
      stats_(shared::NodeStats::instance().add_worker()) {
  pool_.set_max_idle(static_cast<size_t>(settings.upstream_keepalive_pool_size));
}

WorkerContext::~WorkerContext() { delete_sessions(); }

void WorkerContext::delete_sessions() {
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;
    delete s;
    s = next;
  }
  sessions_ = nullptr;
  live_sessions_ = 0;
  for (auto* s : graveyard_) delete s;
  graveyard_.clear();
  for (auto* s : spare_) delete s;
  spare_.clear();
}

void WorkerContext::open_session(int fd, const sockaddr_storage& peer, const ListenerInfo& listener) {
  Session* s;
  if (spare_.empty()) {
    s = new Session();
  } else {
    s = spare_.back();
    spare_.pop_back();
  }
  s->prev = nullptr;
  s->next = sessions_;
  if (sessions_ != nullptr) sessions_->prev = s;
  sessions_ = s;
  ++live_sessions_;
  shared::WorkerStats::add(stats_->accepted);
  s->open(this, fd, peer, listener);
}

void WorkerContext::session_closed(Session* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    sessions_ = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  --live_sessions_;
  shared::WorkerStats::add(stats_->closed);
  // Freed after this event-loop turn: events for it may still be queued.
  graveyard_.push_back(s);
}

upstream::BalancerState* WorkerContext::balancer_state(const config::Snapshot& s, int idx) {
  if (s.generation != snapshot_generation_) return &scratch_state_;
  if (balancer_states_.size() != s.balancers.size()) balancer_states_.resize(s.balancers.size());
  return &balancer_states_[static_cast<size_t>(idx)];
}

void WorkerContext::adopt(std::shared_ptr<const config::Snapshot> s) {
  snapshot_ = std::move(s);
  snapshot_generation_ = snapshot_->generation;
  balancer_states_.clear();
}

void WorkerContext::sweep(uint64_t now_ms) {
  uint64_t count[3] = {0, 0, 0};  // by Session::Activity, for the kong_nginx_connections_total states
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;  // s may close itself
    s->check_timeout(now_ms);
    if (!s->closed) ++count[static_cast<int>(s->activity())];
    s = next;
  }
  stats_->reading.store(count[0], std::memory_order_relaxed);
  stats_->writing.store(count[1], std::memory_order_relaxed);
  stats_->waiting.store(count[2], std::memory_order_relaxed);
  pool_.sweep(now_ms);
}

void WorkerContext::close_idle_sessions() {
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;
    s->close_if_idle();
    s = next;
  }
}

void WorkerContext::close_all_sessions() {
  for (Session* s = sessions_; s != nullptr;) {
    Session* next = s->next;
    s->close();
    s = next;
  }
}

}  // namespace wg::proxy

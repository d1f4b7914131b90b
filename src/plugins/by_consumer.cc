#include "plugins/by_consumer.h"

#include <algorithm>

namespace wg::plugins {

using pipeline::BodyMode;
using pipeline::Direction;
using pipeline::Exchange;
using pipeline::Handler;
using pipeline::Phase;
using pipeline::Slot;
using pipeline::Verdict;

namespace {

using Instances = std::unordered_map<std::string, std::shared_ptr<const Handler>>;

// Any instance: they are all of one plugin (same name and PRIORITY).
const Handler& any_of(const std::shared_ptr<const Handler>& fallback, const Instances& by_consumer) {
  return fallback ? *fallback : *by_consumer.begin()->second;
}

uint32_t all_phases(const std::shared_ptr<const Handler>& fallback, const Instances& by_consumer) {
  uint32_t phases = fallback ? fallback->phases() : 0;
  for (const auto& [id, h] : by_consumer) phases |= h->phases();
  return phases;
}

// The most a body is taken by any instance (Buffer over Stream over
// None): an instance that takes less passes what it gets on untouched.
BodyMode most_body(Direction d, const std::shared_ptr<const Handler>& fallback, const Instances& by_consumer) {
  BodyMode m = fallback ? fallback->body_mode(d) : BodyMode::None;
  for (const auto& [id, h] : by_consumer) m = std::max(m, h->body_mode(d));
  return m;
}

}  // namespace

ByConsumer::ByConsumer(std::shared_ptr<const Handler> fallback, Instances by_consumer)
    : Handler(any_of(fallback, by_consumer).kind(), any_of(fallback, by_consumer).name(),
              any_of(fallback, by_consumer).priority(), all_phases(fallback, by_consumer),
              most_body(Direction::Request, fallback, by_consumer),
              most_body(Direction::Response, fallback, by_consumer)),
      fallback_(std::move(fallback)),
      by_consumer_(std::make_move_iterator(by_consumer.begin()), std::make_move_iterator(by_consumer.end())) {
  logs_unseen_ = fallback_ && fallback_->logs_unseen_requests();
  for (const auto& [id, h] : by_consumer_) logs_unseen_ = logs_unseen_ || h->logs_unseen_requests();
}

const Handler* ByConsumer::choose(const Exchange& x) const {
  if (!x.consumer_id.empty()) {
    auto it = by_consumer_.find(x.consumer_id);
    if (it != by_consumer_.end()) return it->second.get();
  }
  return fallback_.get();
}

// The choice is made once, when the plugin first concerns the request: in
// its own phase, after the authentication plugins ran.
bool ByConsumer::attach(Exchange& x, Slot& s) const {
  s.delegate = choose(x);
  if (s.delegate == nullptr || s.delegate->attach(x, s)) return true;
  s.delegate = nullptr;
  return false;
}

Verdict ByConsumer::on_phase(Phase p, Exchange& x, Slot& s) const {
  const Handler* h = s.delegate;
  return h != nullptr && h->runs(p) ? h->on_phase(p, x, s) : Verdict::Continue;
}

Verdict ByConsumer::on_body(Direction d, Exchange& x, Slot& s, std::string& body, bool end_of_stream) const {
  const Handler* h = s.delegate;
  return h != nullptr && h->body_mode(d) != BodyMode::None ? h->on_body(d, x, s, body, end_of_stream)
                                                          : Verdict::Continue;
}

Verdict ByConsumer::on_trailers(Direction d, Exchange& x, Slot& s) const {
  const Handler* h = s.delegate;
  return h != nullptr && h->body_mode(d) != BodyMode::None ? h->on_trailers(d, x, s) : Verdict::Continue;
}

void ByConsumer::on_log(Exchange& x, Slot& s) const {
  const Handler* h = s.delegate;
  if (h != nullptr && h->runs(Phase::Log)) h->on_log(x, s);
}

void ByConsumer::detach(Exchange& x, Slot& s) const {
  if (s.delegate != nullptr) s.delegate->detach(x, s);
  s.delegate = nullptr;
}

std::string ByConsumer::failure(const Slot& s) const { return s.delegate != nullptr ? s.delegate->failure(s) : ""; }

}  // namespace wg::plugins

// One plugin of a route's chain whose instance depends on the consumer:
// Kong picks a plugin's configuration when the plugin's turn comes, and by
// then the authentication plugins (higher PRIORITY) have named the
// consumer, so an instance scoped to that consumer can win over the
// route's own. This handler stands in the chain for all of them and hands
// each request to the one that applies (or to none).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "pipeline/handler.h"

namespace wg::plugins {

class ByConsumer : public pipeline::Handler {
 public:
  // fallback: the instance for any other consumer, or none (null).
  // by_consumer: consumer id -> its instance; all of the same plugin.
  ByConsumer(std::shared_ptr<const pipeline::Handler> fallback,
             std::unordered_map<std::string, std::shared_ptr<const pipeline::Handler>> by_consumer);

  bool attach(pipeline::Exchange& x, pipeline::Slot& s) const override;
  pipeline::Verdict on_phase(pipeline::Phase p, pipeline::Exchange& x, pipeline::Slot& s) const override;
  pipeline::Verdict on_body(pipeline::Direction d, pipeline::Exchange& x, pipeline::Slot& s, std::string& body,
                            bool end_of_stream) const override;
  pipeline::Verdict on_trailers(pipeline::Direction d, pipeline::Exchange& x, pipeline::Slot& s) const override;
  void on_log(pipeline::Exchange& x, pipeline::Slot& s) const override;
  bool logs_unseen_requests() const override { return logs_unseen_; }
  void detach(pipeline::Exchange& x, pipeline::Slot& s) const override;
  std::string failure(const pipeline::Slot& s) const override;

 private:
  const pipeline::Handler* choose(const pipeline::Exchange& x) const;

  std::shared_ptr<const pipeline::Handler> fallback_;
  // Found by the exchange's consumer id (a view): a transparent hash, no key copy.
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
  };
  std::unordered_map<std::string, std::shared_ptr<const pipeline::Handler>, IdHash, std::equal_to<>> by_consumer_;
  bool logs_unseen_ = false;
};

}  // namespace wg::plugins

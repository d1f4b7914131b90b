// A Proxy-Wasm filter as a pipeline handler: each entry of a filter chain
// is one handler, run after every plugin of a phase (Kong's order), its
// HTTP context created when the request first reaches it. The per-request
// state is the filter's instance (kept alive for the request) and the
// context id.
#pragma once

#include "pipeline/handler.h"
#include "wasm/filters.h"

namespace wg::wasm {

class FilterHandler final : public pipeline::Handler {
 public:
  explicit FilterHandler(FilterRef ref);

  bool attach(pipeline::Exchange& x, pipeline::Slot& s) const override;
  pipeline::Verdict on_phase(pipeline::Phase p, pipeline::Exchange& x, pipeline::Slot& s) const override;
  pipeline::Verdict on_body(pipeline::Direction d, pipeline::Exchange& x, pipeline::Slot& s, std::string& body,
                            bool end_of_stream) const override;
  pipeline::Verdict on_trailers(pipeline::Direction d, pipeline::Exchange& x, pipeline::Slot& s) const override;
  void on_log(pipeline::Exchange& x, pipeline::Slot& s) const override;
  // A filter gets no callback for a request it never saw (no context).
  bool logs_unseen_requests() const override { return false; }
  // Both heads; or, for a module that imports no function able to read
  // them (only proxy_add_header_map_value), adds to both.
  uint32_t heads() const override { return heads_; }
  void detach(pipeline::Exchange& x, pipeline::Slot& s) const override;
  std::string failure(const pipeline::Slot& s) const override;

  const FilterRef& ref() const { return ref_; }

 private:
  static FilterVm& vm(const pipeline::Slot& s) { return *static_cast<FilterVm*>(s.state.get()); }
  static uint32_t ctx(const pipeline::Slot& s) { return static_cast<uint32_t>(s.word); }
  FilterRef ref_;
  uint32_t heads_;
};

}  // namespace wg::wasm

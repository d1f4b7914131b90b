#include "wasm/filter_handler.h"

namespace wg::wasm {
namespace {

using pipeline::BodyMode;
using pipeline::Direction;
using pipeline::Phase;
using pipeline::phase_bit;
using pipeline::Verdict;

// A filter reads a direction's body when it exports that body's callback
// or its trailers' (trailers come at the end of the body).
BodyMode reads_body(const Module& m, const char* body, const char* trailers) {
  return m.exports_function(body) || m.exports_function(trailers) ? BodyMode::Stream : BodyMode::None;
}

// The phases a filter is called in. Access always: the filter's context
// is created when the request reaches it there (Kong's order), whatever it
// exports. header_filter and log only when the module exports the callback
// they would call: a phase with nothing to call costs the runner a
// dispatch per request and the filter nothing it could see (detach still
// ends the context with proxy_on_done / proxy_on_delete).
uint32_t filter_phases(const Module& m) {
  uint32_t phases = phase_bit(Phase::Access);
  if (m.exports_function("proxy_on_response_headers")) phases |= phase_bit(Phase::HeaderFilter);
  if (m.exports_function("proxy_on_log")) phases |= phase_bit(Phase::Log);
  return phases;
}

// The imports through which a filter can see what a head holds (its
// entries, their count, the request.* and response.code properties) or
// have the request matched again. A module that imports none of them can
// only add to the heads: the session then fills no header map for it.
constexpr const char* kHeadReaders[] = {
    "proxy_get_header_map_pairs",     "proxy_set_header_map_pairs",    "proxy_get_header_map_size",
    "proxy_get_header_map_value",     "proxy_replace_header_map_value", "proxy_remove_header_map_value",
    "proxy_get_property",             "proxy_clear_route_cache",        "proxy_call_foreign_function",
};

uint32_t filter_heads(const Module& m) {
  for (const char* name : kHeadReaders) {
    if (m.imports_function(name)) return pipeline::kBothHeads;
  }
  return pipeline::adds_bit(Direction::Request) | pipeline::adds_bit(Direction::Response);
}

Verdict verdict(Action a) {
  switch (a) {
    case Action::Continue:
      return Verdict::Continue;
    case Action::Pause:
      return Verdict::Pause;
    case Action::Fail:
      break;
  }
  return Verdict::Fail;
}

}  // namespace

FilterHandler::FilterHandler(FilterRef ref)
    : pipeline::Handler("filter", ref.name, pipeline::kFilterPriority, filter_phases(*ref.module),
                        reads_body(*ref.module, "proxy_on_request_body", "proxy_on_request_trailers"),
                        reads_body(*ref.module, "proxy_on_response_body", "proxy_on_response_trailers")),
      ref_(std::move(ref)),
      heads_(filter_heads(*ref_.module)) {}

bool FilterHandler::attach(pipeline::Exchange& x, pipeline::Slot& s) const {
  WorkerFilters::Handle h = WorkerFilters::current()->get(ref_);
  if (!h.vm) return false;  // logged by WorkerFilters
  s.word = h.vm->create_http_context(h.root, &x);
  s.state = std::move(h.vm);
  return true;
}

// Kong runs a filter's request headers callback in the access phase and
// its response headers callback in header_filter.
Verdict FilterHandler::on_phase(Phase p, pipeline::Exchange& x, pipeline::Slot& s) const {
  if (p == Phase::Access) return verdict(vm(s).on_request_headers(ctx(s), x, !x.request_has_body));
  return verdict(vm(s).on_response_headers(ctx(s), x, !x.response_has_body));
}

Verdict FilterHandler::on_body(Direction d, pipeline::Exchange& x, pipeline::Slot& s, std::string& body,
                               bool end_of_stream) const {
  return verdict(vm(s).on_body(ctx(s), x, body, d == Direction::Response, end_of_stream));
}

Verdict FilterHandler::on_trailers(Direction d, pipeline::Exchange& x, pipeline::Slot& s) const {
  return verdict(vm(s).on_trailers(ctx(s), x, d == Direction::Response));
}

void FilterHandler::on_log(pipeline::Exchange& x, pipeline::Slot& s) const { vm(s).on_log(ctx(s), x); }

void FilterHandler::detach(pipeline::Exchange& x, pipeline::Slot& s) const { vm(s).on_done_and_delete(ctx(s), x); }

std::string FilterHandler::failure(const pipeline::Slot& s) const {
  return s.state ? vm(s).last_error() : "its instance could not be started";
}

}  // namespace wg::wasm

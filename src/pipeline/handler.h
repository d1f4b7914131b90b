// The one interface every extension kind implements: a native plugin, a
// Lua plugin and a Wasm filter are each a Handler. Handlers are immutable
// and owned by the config snapshot (shared by every worker); what one
// keeps for a request lives in a Slot, made when the handler attaches to
// that request and cleared when it detaches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "pipeline/exchange.h"

namespace wg::pipeline {

// Kong's phases. Rewrite and Access run on the request head, Response once
// the whole upstream body is in (Kong's `response`), HeaderFilter on the
// response head, BodyFilter on response body pieces, Log at the end. Body
// pieces of either direction go through on_body (see BodyMode).
enum class Phase : uint8_t { Rewrite, Access, Response, HeaderFilter, BodyFilter, Log, Count };

constexpr uint32_t phase_bit(Phase p) { return 1u << static_cast<unsigned>(p); }
// A head (the request's or the response's) in Handler::heads(): read or
// changed in any way.
constexpr uint32_t head_bit(Direction d) { return 1u << static_cast<unsigned>(d); }
inline constexpr uint32_t kBothHeads = head_bit(Direction::Request) | head_bit(Direction::Response);
// A head a handler only adds header lines to, never reading, replacing or
// removing any (nor its pseudo-headers' values): a Proxy-Wasm filter whose
// only header-map import is proxy_add_header_map_value.
constexpr uint32_t adds_bit(Direction d) { return 4u << static_cast<unsigned>(d); }
// A head a handler reads only during that head's own phase (the request's:
// rewrite and access; the response's: header_filter), through the header
// map's reads that see a deferred head (find, get_exact, any_of, count),
// and otherwise adds to, or changes through replace/remove (which copy the
// head in first): key-auth, rate-limiting's quota headers. For the request
// head it includes Exchange::upstream_uri.
constexpr uint32_t phase_reads_bit(Direction d) { return 16u << static_cast<unsigned>(d); }
const char* phase_name(Phase p);

// What a handler tells the runner after a call.
enum class Verdict : uint8_t {
  Continue,  // go on with the next handler
  // Wait: in a head phase, until the handler resumes (Exchange::resume_*);
  // on a body piece, keep holding what it got (it gets it again, with the
  // next piece), and at the end of the body, until it resumes.
  Pause,
  Respond,  // the handler set Exchange::local_* : answer with that
  Fail,     // the request fails with 500, logged with the handler's name
};

// How a handler takes one direction's body.
enum class BodyMode : uint8_t {
  None,    // never sees it (the body streams past)
  Stream,  // each piece as it arrives
  Buffer,  // once, whole (up to the runner's limit: 413 / 502)
};

class Handler;

// A handler's per-request state. The runner keeps one per handler of the
// chain and reuses them across requests.
struct Slot {
  std::shared_ptr<void> state;  // whatever the handler keeps alive for the request
  uint64_t word = 0;            // a small value (a Wasm context id)
  // The handler a dispatching handler chose to act for it on this request
  // (a consumer-scoped plugin's instance); it shares the slot's other fields.
  const Handler* delegate = nullptr;
  bool attached = false;
  // The handler (Handler::uid) whose `state` a slot keeps from an earlier
  // request (Handler::keeps_state): the runner drops it before another
  // handler attaches to the slot.
  uint64_t state_of = 0;
};

class Handler {
 public:
  // phases: phase_bit()s of the phases it runs in. kind names what it is
  // in log lines ("plugin", "filter").
  Handler(std::string kind, std::string name, int priority, uint32_t phases, BodyMode request_body,
          BodyMode response_body)
      : kind_(std::move(kind)),
        name_(std::move(name)),
        priority_(priority),
        phases_(phases),
        body_{request_body, response_body} {}
  virtual ~Handler() = default;
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  const std::string& kind() const { return kind_; }
  // Unique in the process (config reloads included), unlike its address.
  uint64_t uid() const { return uid_; }
  const std::string& name() const { return name_; }
  int priority() const { return priority_; }
  bool runs(Phase p) const { return (phases_ & phase_bit(p)) != 0; }
  uint32_t phases() const { return phases_; }
  BodyMode body_mode(Direction d) const { return body_[static_cast<int>(d)]; }

  // Joins a request, before the first call that concerns it. False when it
  // cannot (logged by the handler): the request fails with 500.
  virtual bool attach(Exchange& x, Slot& s) const = 0;
  // Rewrite, Access, Response, HeaderFilter.
  virtual Verdict on_phase(Phase p, Exchange& x, Slot& s) const = 0;
  // A piece of body: what it held so far and the new bytes, which it may
  // change. Continue passes it on; Pause keeps holding it.
  virtual Verdict on_body(Direction d, Exchange& x, Slot& s, std::string& body, bool end_of_stream) const = 0;
  // The body's trailer section (Exchange::*_trailers) arrived.
  virtual Verdict on_trailers(Direction d, Exchange& x, Slot& s) const = 0;
  virtual void on_log(Exchange& x, Slot& s) const = 0;
  // Whether it logs requests it never got to see (one answered before its
  // turn): Kong's plugins do; a Proxy-Wasm filter has no context for them.
  virtual bool logs_unseen_requests() const { return true; }
  // The heads it reads or changes in any phase, its log phase too
  // (head_bit()s of the Exchange's request_headers / response_headers and
  // of what goes with them: upstream_uri). A head no handler of the chain
  // uses is not copied into its map: the session sends it as for a route
  // without handlers (Chain::sees_head). adds_bit(d) instead of head_bit(d):
  // it only adds lines to that head (Chain::only_adds).
  virtual uint32_t heads() const { return kBothHeads; }
  // The request is over (also when it was cut short); the slot is reset after.
  virtual void detach(Exchange& x, Slot& s) const = 0;
  // Whether the slot's `state` stays for the session's next request that
  // runs this handler (which then finds it in attach and its phases and
  // resets what it needs): a handler that would make the same object on
  // every request saves the allocation.
  virtual bool keeps_state() const { return false; }
  // Why its last call failed, for the log line.
  virtual std::string failure(const Slot& s) const = 0;

 private:
  std::string kind_;
  std::string name_;
  int priority_;
  uint32_t phases_;
  BodyMode body_[2];
  uint64_t uid_ = next_handler_uid();
  static uint64_t next_handler_uid();
};

}  // namespace wg::pipeline

// The per-phase handler interface shared by every extension kind (native
// plugins, Lua plugins, Wasm filters arrive in later issues). The phase
// runner is the one place that knows the order: handlers by descending
// priority, as Kong orders plugins by PRIORITY.
#pragma once

#include <algorithm>
#include <string_view>
#include <vector>

namespace wg::proxy {

enum class Phase { Rewrite, Access, HeaderFilter, BodyFilter, Log };

// What a handler tells the runner after a phase.
enum class Verdict {
  Continue,  // go on with the next handler
  Pause,     // waiting (callout, timer); the runner resumes it later
  Respond,   // the handler produced a local response; stop the phase
};

// What a handler sees of the exchange. Filled by the session.
struct ExchangeView {
  std::string_view method;
  std::string_view path;
  std::string_view host;
  int status = 0;  // response status once known
  // A handler that answers itself sets these and returns Respond.
  int reply_status = 0;
  std::string_view reply_body;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual std::string_view name() const = 0;
  virtual int priority() const = 0;
  virtual Verdict run(Phase phase, ExchangeView& x) = 0;
};

class PhaseRunner {
 public:
  void add(Handler* h) {
    handlers_.push_back(h);
    // Stable: equal priorities keep their configured order.
    std::stable_sort(handlers_.begin(), handlers_.end(),
                     [](const Handler* a, const Handler* b) { return a->priority() > b->priority(); });
  }
  bool empty() const { return handlers_.empty(); }
  // Runs one phase from handler index `from`; returns the verdict that
  // stopped it (Continue when all ran) and where it stopped in *stopped_at.
  Verdict run(Phase phase, ExchangeView& x, size_t from = 0, size_t* stopped_at = nullptr) const {
    for (size_t i = from; i < handlers_.size(); ++i) {
      Verdict v = handlers_[i]->run(phase, x);
      if (v != Verdict::Continue) {
        if (stopped_at != nullptr) *stopped_at = i;
        return v;
      }
    }
    return Verdict::Continue;
  }

 private:
  std::vector<Handler*> handlers_;
};

}  // namespace wg::proxy

// Kong's Plugin Development Kit (`kong.*`) and the `ngx` subset plugins use,
// for one Lua state. The primitives that read and change the request are C
// functions over the Exchange of the call in progress (CallState); the PDK
// tables around them are Lua (prelude.cc), so adding a PDK function is
// usually a few lines of Lua over an existing primitive.
#pragma once

#include <string>

#include "pipeline/handler.h"

namespace wg::plugins {
class Consumers;
}

namespace wg::lua {

class Vm;

// What the primitives act on: set by the plugin around each call into Lua
// (thread-local: one worker, one state, one call at a time).
struct CallState {
  pipeline::Exchange* x = nullptr;
  pipeline::Phase phase = pipeline::Phase::Access;
  const std::string* plugin = nullptr;  // the plugin's name, for log lines
  uint64_t instance = 0;                // the plugin instance (kong.ctx.plugin)
  const plugins::Consumers* consumers = nullptr;  // the request's config's (alive with it)
  bool timer = false;                   // a timer's call: no request (x is nullptr)
  bool exited = false;                  // kong.response.exit / error answered
  // The call yielded to wait (WorkerLua::park): for wake(wait_id), or
  // wait_ms (0: no timeout).
  uint64_t wait_id = 0;
  uint64_t wait_ms = 0;
};
CallState& call_state();

// Installs `kong`, `ngx`, the module searcher for kong.plugins.*, and
// `kong.db.schema.typedefs` into the state.
void install_pdk(Vm& vm);

// Drops what the state kept for a request (kong.ctx, ngx.ctx) when it ends.
void end_request(Vm& vm, uint64_t serial);

// The Lua source of the PDK tables (prelude.cc), and of what waits, ngx.re
// and the string helpers (prelude_ngx.cc), run after it.
extern const char* const kPrelude;
extern const char* const kPreludeNgx;

}  // namespace wg::lua

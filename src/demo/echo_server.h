// The demo upstream started with the embedded default config: answers every
// request with a small JSON description of what it received, so `make run`
// has something to proxy to without installing anything else.
#pragma once

#include <string>

namespace wg::demo {

// Starts listening on addr ("127.0.0.1:8002") in background threads.
// Returns false when the address cannot be bound.
bool start_echo_server(const std::string& addr);

}  // namespace wg::demo

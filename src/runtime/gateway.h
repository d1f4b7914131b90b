// The running gateway: loads the first config, starts the admin listener,
// the workers and the health checker, then turns signals into actions on
// the calling thread (sigwait): SIGHUP reloads the config file (through
// Reloader::reload, the path the Admin API will use too), SIGUSR1 (from
// the health checker: names past their TTL) resolves names again,
// SIGTERM/SIGINT drain in-flight requests and stop.
#pragma once

#include "core/settings.h"

namespace wg::runtime {

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean
// drain, 1 when it could not start). Blocks the signals it handles first:
// call it before any thread exists, so every thread inherits the mask.
int run_gateway(core::Settings settings);

}  // namespace wg::runtime

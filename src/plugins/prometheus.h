// Kong's exporter text for the admin listener's /metrics: the series the
// prometheus plugin counted (when a config has an instance of it) and the
// node-level gauges, from the running config and the workers' counts.
#pragma once

#include <string>

#include "config/snapshot.h"

namespace wg::plugins {

// `snapshot` may be null (nothing loaded yet).
std::string prometheus_exposition(const config::Snapshot* snapshot);

}  // namespace wg::plugins

// Kong's declarative format, read through the schema engine: checks the top
// level, flattens nesting (routes under services, targets under upstreams,
// filter chains and plugins under their parents), validates every entity,
// gives each a stable id, resolves references to `{"id": ...}` and checks
// uniqueness. The result is the normalized configuration Kong's
// `GET /config` shows; bind.cc turns it into the typed entities.
#pragma once

#include <string>
#include <vector>

#include "config/errors.h"
#include "config/value.h"

namespace wg::config {

struct Normalized {
  Value config;                       // {"_format_version": "3.0", "services": [...], ...}
  std::vector<Problem> problems;      // empty when the file is valid
  std::vector<std::string> warnings;  // e.g. paths translated from older formats
};

// `root` is the parsed file; it is consumed.
Normalized normalize(Value root);

}  // namespace wg::config

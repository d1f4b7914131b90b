// Turns a normalized configuration (declarative.h) into the typed entities
// the router, balancer and pipeline use. Only called on a valid one.
#pragma once

#include "config/entities.h"
#include "config/value.h"

namespace wg::config {

void bind_entities(const Value& normalized, Declarative& out);

}  // namespace wg::config

// Kong's kong.log.serialize() for the log plugins (file-log, http-log,
// tcp-log, udp-log): one JSON object per request, with Kong's field names
// and shapes (kong/pdk/log.lua), written into a caller's string.
#pragma once

#include <string>

#include "config/schema.h"
#include "pipeline/exchange.h"

namespace wg::plugins {

class Consumers;

// Appends the JSON object of x (no trailing newline) to out. consumers
// resolves the authenticated consumer's entity (may be null).
void serialize_log(const pipeline::Exchange& x, const Consumers* consumers, std::string& out);
// The JSON object of x in a new string sized like the last one this thread
// made (one allocation, not a dozen regrowths), for senders that queue it.
std::string log_entry(const pipeline::Exchange& x, const Consumers* consumers);

// What the log plugins' schemas and factories share.
// Kong's `custom_fields_by_lua` (typedefs.lua_code): Lua code, refused when
// set until Lua plugins exist.
config::schema::Field lua_code_field();

}  // namespace wg::plugins

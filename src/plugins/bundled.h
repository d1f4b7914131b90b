// The bundled plugins' types, one per file in this folder.
#pragma once

#include <optional>

#include "config/typedefs.h"
#include "plugins/plugin.h"

namespace wg::plugins {

// The names every plugin file uses.
using pipeline::Exchange;
using pipeline::Slot;
using pipeline::Verdict;
using schema::Field;
using schema::Type;
namespace typedefs = config::typedefs;

PluginType request_termination_type();
PluginType correlation_id_type();
PluginType ip_restriction_type();
PluginType request_size_limiting_type();
PluginType cors_type();
PluginType key_auth_type();
PluginType acl_type();
PluginType rate_limiting_type();
PluginType response_ratelimiting_type();
PluginType response_transformer_type();
PluginType request_transformer_type();
PluginType basic_auth_type();
PluginType hmac_auth_type();
PluginType jwt_type();
PluginType prometheus_type();
PluginType file_log_type();
PluginType http_log_type();
PluginType tcp_log_type();
PluginType udp_log_type();
PluginType bot_detection_type();
PluginType proxy_cache_type();

// The start (seconds since the epoch) of the rate-limiting window that holds
// now_s: 0 second, 1 minute, 2 hour, 3 day, 4 month, 5 year, on UTC calendar
// boundaries as Kong's (rate_limiting.cc).
int64_t window_start(size_t window, int64_t now_s);
// The rate-limiting plugins' shared pieces (rate_limiting.cc): a limit as
// Kong's tostring prints it; Kong's "value must be greater than 0"; and
// Kong's check that a longer window allows no less than a shorter one in a
// record of second..year limits ("<article> limit for ... cannot be lower
// than ...": rate-limiting writes "The", response-ratelimiting "the").
std::string number_text(double d);
std::optional<std::string> positive_number(const config::Value& v);
void check_window_order(const config::Value& limits, const char* article,
                        std::vector<std::pair<std::string, std::string>>& out);

// Field builders the plugin schemas share.
schema::Field config_record(std::vector<schema::Field> fields);
std::string str_or_empty(const config::Value& v, const char* key);
// The value of query argument `name` in a request target ("" when absent)
// and, in *count, how many times it appears.
std::string_view query_arg(std::string_view target, std::string_view name, int* count);

// Kong's "<route id>:<service id>" of an instance's scope (the zero UUID for
// what it is not scoped to): the rate-limiting plugins key counters by it.
std::string scope_ids(const BuildContext& ctx);
// "<tag>:<hash of scope>:", a short prefix for node-local counter keys
// (hashed on every request, so kept short).
std::string hashed_scope_prefix(const char* tag, const std::string& scope);

// Adds the types to the registry and their config schemas to the loader (plugin.cc).
void register_types(std::vector<PluginType> types);

}  // namespace wg::plugins

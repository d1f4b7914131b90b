#include "plugins/bundled.h"

#include <cstdio>
#include <functional>
#include <mutex>

namespace wg::plugins {

void register_bundled() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_types({request_termination_type(), correlation_id_type(), ip_restriction_type(),
                    request_size_limiting_type(), cors_type(), key_auth_type(), acl_type(),
                    rate_limiting_type(), response_ratelimiting_type(), response_transformer_type(),
                    request_transformer_type(), basic_auth_type(), hmac_auth_type(), jwt_type(), prometheus_type(),
                    file_log_type(), http_log_type(), tcp_log_type(), udp_log_type(), bot_detection_type(),
                    proxy_cache_type()});
  });
}

schema::Field config_record(std::vector<schema::Field> fields) {
  return schema::Field("config", schema::Type::Record).with(std::move(fields));
}

std::string_view query_arg(std::string_view target, std::string_view name, int* count) {
  *count = 0;
  std::string_view found;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return found;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      ++*count;
      found = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return found;
}

std::string str_or_empty(const config::Value& v, const char* key) {
  auto it = v.find(key);
  return it != v.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string scope_ids(const BuildContext& ctx) {
  static const std::string kNoId = "00000000-0000-0000-0000-000000000000";
  return (ctx.route_id.empty() ? kNoId : ctx.route_id) + ":" + (ctx.service_id.empty() ? kNoId : ctx.service_id);
}

std::string hashed_scope_prefix(const char* tag, const std::string& scope) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>{}(scope));
  return std::string(tag) + ":" + hex + ":";
}

}  // namespace wg::plugins

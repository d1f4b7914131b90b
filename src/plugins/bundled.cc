#include "plugins/bundled.h"

#include <mutex>

namespace wg::plugins {

void register_types(std::vector<PluginType> types);  // plugin.cc

void register_bundled() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_types({request_termination_type(), correlation_id_type(), ip_restriction_type(),
                    request_size_limiting_type(), cors_type(), key_auth_type(), acl_type(),
                    rate_limiting_type(), response_transformer_type()});
  });
}

schema::Field config_record(std::vector<schema::Field> fields) {
  return schema::Field("config", schema::Type::Record).with(std::move(fields));
}

std::optional<std::string> header_name_check(const config::Value& v) {
  const std::string& s = v.get_ref<const std::string&>();
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return "bad header name '" + s + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
    }
  }
  return std::nullopt;
}

std::string str_or_empty(const config::Value& v, const char* key) {
  auto it = v.find(key);
  return it != v.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace wg::plugins

#include "config/typedefs.h"

#include <algorithm>

namespace wg::config::typedefs {
namespace {

using schema::Type;

bool ascii_name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_' || c == '~';
}

// 0 for well-formed UTF-8 (no overlongs, surrogates or code points past
// U+10FFFF), else the 1-based position of the first bad byte.
size_t utf8_error_at(const std::string& s) {
  static const unsigned kMin[] = {0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 0;
    if (n == 0 || i + n >= s.size()) return i + 1;
    unsigned cp = c & (0x3fu >> n);
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i + 1;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if (cp < kMin[n - 1] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i + 1;
    i += n + 1;
  }
  return 0;
}

}  // namespace

Field id() {
  Field f("id", Type::String);
  f.uuid = true;
  f.auto_id = true;
  return f;
}

Field timestamp(std::string name) { return Field(std::move(name), Type::Integer).range(0, 9007199254740991.0); }

Field name() {
  return Field("name", Type::String).is_unique().check([](const Value& v) -> std::optional<std::string> {
    const auto& s = v.get_ref<const std::string&>();
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return ascii_name_char(c); })) return {};
    return "invalid value '" + s + "': it must only contain alphanumeric and '., -, _, ~' characters";
  });
}

Field utf8_name() {
  return Field("name", Type::String).is_unique().check([](const Value& v) -> std::optional<std::string> {
    const auto& s = v.get_ref<const std::string&>();
    if (size_t bad = utf8_error_at(s); bad != 0) {
      return "invalid utf-8 character sequence detected at position " + std::to_string(bad);
    }
    bool ok = std::all_of(s.begin(), s.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x80 || ascii_name_char(static_cast<unsigned char>(c));
    });
    if (ok) return {};
    return "invalid value '" + s + "': the only accepted ascii characters are alphanumerics or ., -, _, and ~";
  });
}

Field tags() { return Field("tags", Type::Set).of(Field("", Type::String)); }

Field port(std::string name) { return Field(std::move(name), Type::Integer).range(0, 65535); }

Field timeout(std::string name) { return Field(std::move(name), Type::Integer).range(1, 2147483646).def(60000); }

Field path(std::string name) {
  return Field(std::move(name), Type::String).check([](const Value& v) -> std::optional<std::string> {
    const auto& s = v.get_ref<const std::string&>();
    if (s[0] != '/') return "should start with: /";
    if (s.find("//") != std::string::npos) return "must not have empty segments";
    return {};
  });
}

Field host(std::string name) {
  return Field(std::move(name), Type::String).check([](const Value& v) -> std::optional<std::string> {
    const auto& s = v.get_ref<const std::string&>();
    for (char c : s) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' && c != ':' && c != '[' &&
          c != ']') {
        return "invalid value: " + s;
      }
    }
    return {};
  });
}

bool valid_header_name(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

Field header_name(std::string name) {
  return Field(std::move(name), Type::String).check([](const Value& v) -> std::optional<std::string> {
    const auto& s = v.get_ref<const std::string&>();
    if (valid_header_name(s)) return {};
    return "bad header name '" + s + "', allowed characters are A-Z, a-z, 0-9, '_', and '-'";
  });
}

const std::vector<std::string>& kong_protocols() {
  // Kong's order (constants.lua sorts them); ws/wss are Kong Enterprise's.
  static const std::vector<std::string> kAll = {"grpc", "grpcs", "http", "https", "tcp",
                                                "tls", "tls_passthrough", "udp"};
  return kAll;
}

bool protocol_supported(const std::string& p) { return p == "http" || p == "https"; }

Field protocol_list(std::string name) {
  Field element("", Type::String);
  element.check([](const Value& v) -> std::optional<std::string> {
    const auto& p = v.get_ref<const std::string&>();
    const auto& all = kong_protocols();
    if (std::find(all.begin(), all.end(), p) == all.end()) return "unknown protocol '" + p + "'";
    if (!protocol_supported(p)) return "protocol '" + p + "' is not supported yet";
    return {};
  });
  return Field(std::move(name), Type::Set).min_len(1).of(std::move(element));
}

Field foreign(std::string name, std::string entity_type) {
  Field f(std::move(name), Type::Foreign);
  f.reference = std::move(entity_type);
  return f;
}

Field http_status(std::string name) { return Field(std::move(name), Type::Integer).range(100, 999); }

}  // namespace wg::config::typedefs

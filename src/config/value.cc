#include "config/value.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace wg::config {
namespace {

size_t digits(const std::string& s, size_t i, bool (*ok)(char)) {
  size_t start = i;
  while (i < s.size() && ok(s[i])) ++i;
  return i - start;
}
bool decimal(char c) { return c >= '0' && c <= '9'; }
bool hexadecimal(char c) { return decimal(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool octal(char c) { return c >= '0' && c <= '7'; }

// [-+]? (.d+ | d+(.d*)?) ([eE][-+]?d+)? ; *integer when it is [-+]?d+.
bool yaml_number(const std::string& s, bool* integer) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  size_t whole = digits(s, i, decimal);
  i += whole;
  *integer = whole > 0 && i == s.size();
  if (*integer) return true;
  size_t fraction = 0;
  if (i < s.size() && s[i] == '.') {
    fraction = digits(s, ++i, decimal);
    i += fraction;
  }
  if (whole == 0 && fraction == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exponent = digits(s, i, decimal);
    if (exponent == 0) return false;
    i += exponent;
  }
  return i == s.size();
}

// YAML 1.2 core schema for plain scalars: null, booleans, integers, floats.
Value plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  bool integer = false;
  if (yaml_number(s, &integer)) {
    errno = 0;
    if (integer) {
      long long v = std::strtoll(s.c_str(), nullptr, 10);
      if (errno == 0) return v;
    }
    return std::strtod(s.c_str(), nullptr);
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && digits(s, 2, hexadecimal) == s.size() - 2) {
    return static_cast<long long>(std::strtoull(s.c_str() + 2, nullptr, 16));
  }
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && digits(s, 2, octal) == s.size() - 2) {
    return static_cast<long long>(std::strtoull(s.c_str() + 2, nullptr, 8));
  }
  if (s == ".inf" || s == "+.inf" || s == ".Inf" || s == ".INF") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  return s;
}

Value convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "!" marks a quoted scalar (or an explicit !!str-like tag): a string.
      if (n.Tag() == "?") return plain_scalar(n.Scalar());
      return n.Scalar();
    case YAML::NodeType::Sequence: {
      Value out = Value::array();
      for (const auto& e : n) out.push_back(convert(e));
      return out;
    }
    case YAML::NodeType::Map: {
      Value out = Value::object();
      for (const auto& kv : n) out[kv.first.Scalar()] = convert(kv.second);
      return out;
    }
  }
  return nullptr;
}

}  // namespace

bool parse_value(std::string_view text, Value& out, std::string* error) {
  try {
    out = convert(YAML::Load(std::string(text)));
    return true;
  } catch (const YAML::Exception& ex) {
    *error = "cannot parse YAML/JSON at line " + std::to_string(ex.mark.line + 1) + ": " + ex.msg;
    return false;
  }
}

std::string show(const Value& v) { return v.is_string() ? v.get<std::string>() : to_json(v); }

std::string to_json(const Value& v, int indent) {
  return v.dump(indent, ' ', false, Value::error_handler_t::replace);
}

}  // namespace wg::config

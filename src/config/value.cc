#include "config/value.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace wg::config {
namespace {

// YAML 1.2 core schema for plain scalars: null, booleans, integers, floats.
Value plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  static const std::regex kOct("0o[0-7]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  errno = 0;
  if (std::regex_match(s, kInt)) {
    long long v = std::strtoll(s.c_str(), nullptr, 10);
    if (errno == 0) return v;
    return std::strtod(s.c_str(), nullptr);
  }
  if (std::regex_match(s, kHex)) return static_cast<long long>(std::strtoull(s.c_str() + 2, nullptr, 16));
  if (std::regex_match(s, kOct)) return static_cast<long long>(std::strtoull(s.c_str() + 2, nullptr, 8));
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
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

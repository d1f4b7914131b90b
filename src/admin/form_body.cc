#include "admin/form_body.h"

#include <cctype>
#include <cstdlib>
#include <vector>

#include "config/entity_schemas.h"
#include "http/form_decode.h"

namespace wg::admin {
namespace {

using config::Value;
using config::schema::Type;

// One step of a nested key: a record key, or an array append ("[]").
struct Step {
  std::string key;
  bool append = false;
};

// "a.b[c][]" -> a, b, c, append. Keys in brackets are taken as written.
std::vector<Step> key_steps(const std::string& key) {
  std::vector<Step> steps;
  std::string current;
  size_t i = 0;
  auto flush = [&] {
    if (!current.empty()) steps.push_back(Step{current, false});
    current.clear();
  };
  while (i < key.size()) {
    char c = key[i];
    if (c == '.') {
      flush();
      ++i;
    } else if (c == '[') {
      size_t close = key.find(']', i);
      if (close == std::string::npos) {
        current += key.substr(i);
        break;
      }
      flush();
      std::string inner = key.substr(i + 1, close - i - 1);
      steps.push_back(inner.empty() ? Step{"", true} : Step{inner, false});
      i = close + 1;
    } else {
      current.push_back(c);
      ++i;
    }
  }
  flush();
  return steps;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() < 7 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Places `value` at `steps` under `node`; false when a step meets a value
// of another shape.
bool place(Value& node, const std::vector<Step>& steps, size_t at, Value value) {
  if (at == steps.size()) {
    node = std::move(value);
    return true;
  }
  const Step& step = steps[at];
  if (step.append) {
    if (node.is_null()) node = Value::array();
    if (!node.is_array()) return false;
    node.push_back(Value());
    return place(node.back(), steps, at + 1, std::move(value));
  }
  if (node.is_null()) node = Value::object();
  if (!node.is_object()) return false;
  return place(node[step.key], steps, at + 1, std::move(value));
}

// {"1": a, "2": b} (Kong's paths[1]=a&paths[2]=b) -> [a, b].
bool indexed_array(const Value& v, Value* out) {
  if (!v.is_object() || v.empty()) return false;
  std::vector<std::pair<long, const Value*>> items;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!all_digits(it.key())) return false;
    items.emplace_back(std::strtol(it.key().c_str(), nullptr, 10), &it.value());
  }
  *out = Value::array();
  for (long i = 1; i <= static_cast<long>(items.size()); ++i) {
    const Value* found = nullptr;
    for (const auto& [index, item] : items) {
      if (index == i) found = item;
    }
    if (found == nullptr) return false;
    out->push_back(*found);
  }
  return true;
}

void infer_scalar(Type type, Value& v) {
  if (!v.is_string()) return;
  const std::string& s = v.get_ref<const std::string&>();
  if (type == Type::Boolean && (s == "true" || s == "false")) {
    v = s == "true";
  } else if (type == Type::Integer || type == Type::Number) {
    char* end = nullptr;
    if (s.empty()) return;
    if (type == Type::Integer) {
      long long n = std::strtoll(s.c_str(), &end, 10);
      if (*end == '\0') v = n;
    } else {
      double d = std::strtod(s.c_str(), &end);
      if (*end == '\0') v = d;
    }
  }
}

}  // namespace

bool parse_form(std::string_view body, Value* out, std::string* error) {
  *out = Value::object();
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = http::form_decode(pair.substr(0, eq));
    std::string text = eq == std::string_view::npos ? "" : http::form_decode(pair.substr(eq + 1));
    std::vector<Step> steps = key_steps(key);
    if (steps.empty() || steps[0].append) continue;
    if (!place(*out, steps, 0, Value(std::move(text)))) {
      *error = "cannot combine '" + key + "' with the other parameters";
      return false;
    }
  }
  return true;
}

bool parse_multipart(std::string_view body, std::string_view content_type, Value* out, std::string* error) {
  *out = Value::object();
  size_t b = content_type.find("boundary=");
  if (b == std::string_view::npos) {
    *error = "multipart body without a boundary";
    return false;
  }
  std::string_view boundary = content_type.substr(b + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  if (boundary.size() >= 2 && boundary.front() == '"') boundary = boundary.substr(1, boundary.find('"', 1) - 1);
  const std::string delimiter = "--" + std::string(boundary);
  const std::string next_delimiter = "\r\n" + delimiter;
  size_t at = body.find(delimiter);
  if (boundary.empty() || at == std::string_view::npos) {
    *error = "multipart body without its boundary";
    return false;
  }
  for (;;) {
    size_t head = at + delimiter.size();
    if (body.substr(head, 2) == "--") return true;  // the closing delimiter
    size_t head_end = body.find("\r\n\r\n", head);
    size_t end = head_end == std::string_view::npos ? head_end : body.find(next_delimiter, head_end);
    if (end == std::string_view::npos) {
      *error = "multipart body cut short";
      return false;
    }
    std::string_view part_head = body.substr(head, head_end - head);
    size_t name_at = part_head.find("name=\"");
    if (name_at != std::string_view::npos) {
      std::string_view rest = part_head.substr(name_at + 6);
      std::string key(rest.substr(0, rest.find('"')));
      std::vector<Step> steps = key_steps(key);
      if (!steps.empty() && !steps[0].append &&
          !place(*out, steps, 0, Value(std::string(body.substr(head_end + 4, end - head_end - 4))))) {
        *error = "cannot combine '" + key + "' with the other parameters";
        return false;
      }
    }
    at = end + 2;
  }
}

void infer_types(const config::schema::Field& field, Value& value) {
  switch (field.type) {
    case Type::Array:
    case Type::Set: {
      Value as_array;
      if (indexed_array(value, &as_array)) value = std::move(as_array);
      if (value.is_string()) value = Value::array({value});
      if (value.is_array() && field.elements) {
        for (auto& e : value) infer_types(*field.elements, e);
      }
      return;
    }
    case Type::Record:
      if (!value.is_object()) return;
      for (const auto& f : field.fields) {
        auto it = value.find(f.name);
        if (it != value.end()) infer_types(f, *it);
      }
      return;
    case Type::Map:
      if (!value.is_object() || !field.values) return;
      for (auto& [key, v] : value.items()) infer_types(*field.values, v);
      return;
    default:
      infer_scalar(field.type, value);
  }
}

void infer_entity_types(const config::schema::Schema& schema, Value& entity) {
  for (const auto& f : schema.fields) {
    auto it = entity.find(f.name);
    if (it == entity.end()) continue;
    if (schema.name == "plugins" && f.name == "config" && entity.value("name", Value()).is_string()) {
      const config::PluginSchema* plugin = config::plugin_schema(entity["name"].get<std::string>());
      if (plugin != nullptr) infer_types(plugin->config, *it);
      continue;
    }
    infer_types(f, *it);
  }
}

}  // namespace wg::admin

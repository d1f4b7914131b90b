#include "plugins/transform_ops.h"

namespace wg::plugins {

Pair split(const std::string& e) {
  size_t colon = e.find(':');
  if (colon == std::string::npos) return {e, ""};
  size_t v = e.find_first_not_of(':', colon);
  return {e.substr(0, colon), v == std::string::npos ? "" : e.substr(v)};
}

std::vector<std::string> list(const config::Value& c, const char* op, const char* part) {
  std::vector<std::string> out;
  auto o = c.find(op);
  if (o == c.end() || !o->is_object()) return out;
  auto p = o->find(part);
  if (p == o->end() || !p->is_array()) return out;
  for (const auto& v : *p) out.push_back(v.get<std::string>());
  return out;
}

Ops ops(const config::Value& c, const char* part) {
  Ops o;
  o.remove = list(c, "remove", part);
  for (const auto& e : list(c, "rename", part)) o.rename.push_back(split(e));
  for (const auto& e : list(c, "replace", part)) o.replace.push_back(split(e));
  for (const auto& e : list(c, "add", part)) o.add.push_back(split(e));
  for (const auto& e : list(c, "append", part)) o.append.push_back(split(e));
  return o;
}

std::optional<std::string> pair_format(const config::Value& v) {
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s[0] == ':' || s.find(':') == std::string::npos) return "invalid value: " + s;
  return std::nullopt;
}

std::optional<std::string> valid_header(const std::string& name) {
  if (name.empty() || !typedefs::valid_header_name(name)) return "'" + name + "' is not a valid header";
  return std::nullopt;
}

std::optional<std::string> rename_header(const config::Value& v) {
  if (auto bad = pair_format(v)) return bad;
  Pair p = split(v.get<std::string>());
  if (auto bad = valid_header(p.name)) return bad;
  return valid_header(p.value);
}

Field strings(const char* name, schema::Custom check) {
  Field element("", Type::String);
  if (check) element.check(std::move(check));
  return Field(name, Type::Array).req().def(config::Value::array()).of(std::move(element));
}

}  // namespace wg::plugins

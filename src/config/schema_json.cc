// Schemas rendered as Kong's Admin API shows them (GET /schemas/{entity}):
// {"fields": [{"name": {"type": ..., "required": ..., ...}}, ...],
//  "entity_checks": [...]}. Custom checks (code) are not shown.
#include "config/schema.h"

namespace wg::config::schema {
namespace {

const char* type_name(Type t) {
  switch (t) {
    case Type::String: return "string";
    case Type::Integer: return "integer";
    case Type::Number: return "number";
    case Type::Boolean: return "boolean";
    case Type::Array: return "array";
    case Type::Set: return "set";
    case Type::Map: return "map";
    case Type::Record: return "record";
    case Type::Foreign: return "foreign";
    case Type::Json: return "json";
  }
  return "string";
}

Value match_json(const Match& m) {
  Value v = Value::object();
  if (!m.one_of.empty()) v["one_of"] = Value(m.one_of);
  if (m.required) v["required"] = true;
  return v;
}

Value check_json(const EntityCheck& c) {
  auto names = [](const std::vector<std::string>& f) { return Value(f); };
  switch (c.kind) {
    case EntityCheck::Kind::AtLeastOneOf: return Value{{"at_least_one_of", names(c.fields)}};
    case EntityCheck::Kind::OnlyOneOf: return Value{{"only_one_of", names(c.fields)}};
    case EntityCheck::Kind::MutuallyRequired: return Value{{"mutually_required", names(c.fields)}};
    case EntityCheck::Kind::Distinct: return Value{{"distinct", names(c.fields)}};
    case EntityCheck::Kind::MutuallyExclusiveSets: {
      Value sets = Value::object();
      for (size_t i = 0; i < c.sets.size(); ++i) sets["set" + std::to_string(i + 1)] = names(c.sets[i]);
      return Value{{"mutually_exclusive_sets", sets}};
    }
    case EntityCheck::Kind::Conditional:
      return Value{{"conditional", Value{{"if_field", c.if_field}, {"if_match", match_json(c.if_match)},
                                         {"then_field", c.then_field}, {"then_match", match_json(c.then_match)}}}};
    case EntityCheck::Kind::ConditionalAtLeastOneOf:
      return Value{{"conditional_at_least_one_of",
                    Value{{"if_field", c.if_field}, {"if_match", match_json(c.if_match)},
                          {"then_at_least_one_of", names(c.fields)}}}};
    case EntityCheck::Kind::Custom: break;
  }
  return nullptr;
}

Value checks_json(const std::vector<EntityCheck>& checks) {
  Value out = Value::array();
  for (const auto& c : checks) {
    Value v = check_json(c);
    if (!v.is_null()) out.push_back(std::move(v));
  }
  return out;
}

Value fields_json(const std::vector<Field>& fields);

Value field_body(const Field& f) {
  Value v = Value::object();
  v["type"] = type_name(f.type);
  if (f.required) v["required"] = true;
  if (f.dflt) v["default"] = *f.dflt;
  if (f.auto_id || f.auto_random) v["auto"] = true;
  if (f.uuid) v["uuid"] = true;
  if (f.unique) v["unique"] = true;
  if (f.between) v["between"] = Value::array({f.between->first, f.between->second});
  if (!f.one_of.empty()) v["one_of"] = Value(f.one_of);
  if (f.len_min) v["len_min"] = *f.len_min;
  if (f.len_max) v["len_max"] = *f.len_max;
  if (!f.starts_with.empty()) v["starts_with"] = f.starts_with;
  if (!f.reference.empty()) v["reference"] = f.reference;
  if (f.elements) v["elements"] = field_body(*f.elements);
  if (f.keys) v["keys"] = field_body(*f.keys);
  if (f.values) v["values"] = field_body(*f.values);
  if (f.type == Type::Record) {
    v["fields"] = fields_json(f.fields);
    if (!f.record_checks.empty()) v["entity_checks"] = checks_json(f.record_checks);
  }
  return v;
}

Value fields_json(const std::vector<Field>& fields) {
  Value out = Value::array();
  for (const auto& f : fields) out.push_back(Value{{f.name, field_body(f)}});
  return out;
}

}  // namespace

Value kong_json(const Schema& s) {
  Value v = Value::object();
  v["fields"] = fields_json(s.fields);
  v["entity_checks"] = checks_json(s.checks);
  return v;
}

Value kong_json(const Schema& plugins, const Field& config) {
  Value v = kong_json(plugins);
  for (auto& entry : v["fields"]) {
    if (entry.contains("config")) entry["config"] = field_body(config);
  }
  return v;
}

}  // namespace wg::config::schema

#include "config/errors.h"

#include <algorithm>

namespace wg::config {
namespace {

std::string join_path(const std::vector<PathPart>& path, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (!out.empty()) out += '.';
    out += path[i].index ? std::to_string(path[i].position) : path[i].key;
  }
  return out;
}

Value error_object(ErrorCode code, const char* name, std::string message, Value fields) {
  Value out = Value::object();
  out["code"] = static_cast<int>(code);
  out["name"] = name;
  out["message"] = std::move(message);
  out["fields"] = std::move(fields);
  return out;
}

// Places `message` in Kong's nested `fields` shape: records and maps as
// objects, arrays as arrays (null where an element is fine), entity checks
// under "@entity" as a list.
void place(Value& node, const std::vector<PathPart>& path, size_t at, const std::string& message) {
  if (at == path.size()) {
    if (node.is_null()) node = message;
    return;
  }
  const PathPart& p = path[at];
  if (p.index) {
    if (!node.is_array()) node = Value::array();
    while (node.size() <= p.position) node.push_back(nullptr);
    place(node[p.position], path, at + 1, message);
  } else {
    if (!node.is_object()) node = Value::object();
    place(node[p.key], path, at + 1, message);
  }
}

}  // namespace

std::string FieldError::field() const {
  size_t n = path.size();
  if (n > 0 && path[n - 1].index) --n;
  return n == 0 ? "-" : join_path(path, n);
}

std::string Problem::line() const { return kind + " '" + label + "' field '" + error.field() + "': " + error.message; }

std::string lua_table(const std::string& field, const Value& value) {
  return "{" + field + "=" + (value.is_string() ? "\"" + value.get<std::string>() + "\"" : to_json(value)) + "}";
}

Value schema_violation(const std::vector<FieldError>& errors) {
  Value fields = Value::object();
  std::vector<std::string> entity_msgs, field_msgs;
  for (const auto& e : errors) {
    if (e.path.empty()) {
      if (!fields.contains("@entity")) fields["@entity"] = Value::array();
      fields["@entity"].push_back(e.message);
      entity_msgs.push_back(e.message);
    } else {
      place(fields, e.path, 0, e.message);
      field_msgs.push_back(join_path(e.path, e.path.size()) + ": " + e.message);
    }
  }
  // Kong lists entity checks first, then fields by name.
  std::sort(field_msgs.begin(), field_msgs.end());
  std::vector<std::string> all = entity_msgs;
  all.insert(all.end(), field_msgs.begin(), field_msgs.end());
  std::string joined;
  for (const auto& m : all) joined += (joined.empty() ? "" : "; ") + m;
  std::string message = all.size() == 1 ? "schema violation (" + joined + ")"
                                        : std::to_string(all.size()) + " schema violations (" + joined + ")";
  return error_object(ErrorCode::SchemaViolation, "schema violation", message, std::move(fields));
}

Value unique_violation(const std::string& field, const Value& value) {
  Value fields = Value::object();
  fields[field] = value;
  return error_object(ErrorCode::UniqueViolation, "unique constraint violation",
                      "UNIQUE violation detected on '" + lua_table(field, value) + "'", std::move(fields));
}

Value foreign_key_violation(const std::string& field, const std::string& referenced_type, const Value& key) {
  std::string message = "the foreign key '" + lua_table("id", key) + "' does not reference an existing '" +
                        referenced_type + "' entity.";
  Value fields = Value::object();
  fields[field] = Value{{"id", key}};  // Kong shows the key that names nothing
  return error_object(ErrorCode::ForeignKeyViolation, "foreign key violation", message, std::move(fields));
}

Value invalid_primary_key(const Value& id) {
  Value fields = Value::object();
  fields["id"] = "expected a valid UUID";
  return error_object(ErrorCode::InvalidPrimaryKey, "invalid primary key",
                      "invalid primary key: '" + lua_table("id", id) + "'", std::move(fields));
}

Value not_found(const Value& id) {
  Value fields = Value::object();
  fields["id"] = id;
  return error_object(ErrorCode::NotFound, "not found",
                      "could not find the entity with primary key '" + lua_table("id", id) + "'", std::move(fields));
}

Value invalid_declarative(const std::vector<Problem>& problems) {
  Value flat = Value::array();
  std::string joined;
  for (const auto& p : problems) {
    Value entry = Value::object();
    entry["entity_type"] = p.kind;
    entry["entity_name"] = p.label;
    entry["field"] = p.error.field();
    entry["message"] = p.error.message;
    flat.push_back(std::move(entry));
    joined += (joined.empty() ? "" : "; ") + p.line();
  }
  Value out = error_object(ErrorCode::InvalidDeclarativeConfig, "invalid declarative configuration",
                           "declarative config is invalid: " + joined, Value::object());
  out["flattened_errors"] = std::move(flat);
  return out;
}

}  // namespace wg::config

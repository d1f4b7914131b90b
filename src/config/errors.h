// Config problems in the two shapes users see: one line per problem for
// `wasmgate check` and reload logs (`service 'x' field 'port': reason`), and
// Kong's error objects (kong/db/errors.lua) that the Admin API returns:
// `{"code": 2, "name": "schema violation", "message": ..., "fields": ...}`.
#pragma once

#include <string>
#include <vector>

#include "config/value.h"

namespace wg::config {

// One step of a field path: a record field or map key, or an array index.
struct PathPart {
  std::string key;
  bool index = false;
  size_t position = 0;  // when index
};

// A problem with one field of one entity; an empty path is the entity itself
// (Kong's '@entity').
struct FieldError {
  std::vector<PathPart> path;
  std::string message;

  // "healthchecks.active.timeout", "filters.0.name"; a trailing array index is
  // dropped ("paths"), and the entity itself is "-".
  std::string field() const;
};

// A problem with one entity of a declarative file.
struct Problem {
  std::string kind;   // "service", "route", "config", ...
  std::string label;  // the entity's name/key, or its position
  FieldError error;

  std::string line() const;  // kind 'label' field 'x': reason
};

// Kong's error codes (kong/db/errors.lua).
enum class ErrorCode {
  InvalidPrimaryKey = 1,
  SchemaViolation = 2,
  PrimaryKeyViolation = 3,
  ForeignKeyViolation = 4,
  UniqueViolation = 5,
  NotFound = 6,
  InvalidDeclarativeConfig = 14,
};

// {"code": 2, "name": "schema violation", "message": "...", "fields": {...}}
// for the errors of one entity.
Value schema_violation(const std::vector<FieldError>& errors);
// {"code": 5, ...} for a duplicate value of a unique field.
Value unique_violation(const std::string& field, const Value& value);
// {"code": 4, ...} for a reference to an entity that does not exist.
Value foreign_key_violation(const std::string& field, const std::string& referenced_type, const Value& key);
// {"code": 1, ...} for an id that is not a UUID.
Value invalid_primary_key(const Value& id);
// {"code": 6, ...}
Value not_found(const Value& id);
// {"code": 14, "name": "invalid declarative configuration", ...} with one
// flattened entry per problem.
Value invalid_declarative(const std::vector<Problem>& problems);

// Kong's rendering of a key in messages: {name="x"}.
std::string lua_table(const std::string& field, const Value& value);

}  // namespace wg::config

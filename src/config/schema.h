// Kong's schemas as data (kong/db/schema/init.lua in C++): an entity or a
// plugin config is described by a table of Fields plus entity checks, and
// one engine (schema.cc) validates a Value against it, fills defaults and
// reports every problem with Kong's wording. The tables live in
// entity_schemas.cc (entities) and typedefs.cc (Kong's reusable field types).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/errors.h"
#include "config/value.h"

namespace wg::config::schema {

enum class Type { String, Integer, Number, Boolean, Array, Set, Map, Record, Foreign, Json };

struct Field;

// A validator Kong writes as a Lua function: returns the reason on failure.
using Custom = std::function<std::optional<std::string>(const Value&)>;

// Constraints a conditional entity check matches against (Kong's if_match /
// then_match subset its bundled schemas use).
struct Match {
  std::vector<Value> one_of;      // value must be one of these
  bool required = false;          // value must be set

  // Returns the reason the value fails, or nothing.
  std::optional<std::string> failure(const Value& v) const;
};

struct EntityCheck {
  enum class Kind {
    AtLeastOneOf,
    OnlyOneOf,
    MutuallyRequired,
    Distinct,
    MutuallyExclusiveSets,
    Conditional,
    ConditionalAtLeastOneOf,
    Custom,
  };
  Kind kind = Kind::Custom;
  std::vector<std::string> fields;                  // the checked fields
  std::vector<std::vector<std::string>> sets;       // MutuallyExclusiveSets
  std::string if_field;                             // Conditional*
  Match if_match;
  std::string then_field;                           // Conditional
  Match then_match;
  std::string then_err;  // replaces the generic message when set
  // Custom: adds errors to the entity (field name, reason); "" = '@entity'.
  std::function<void(const Value& entity, std::vector<std::pair<std::string, std::string>>& out)> custom;
};

struct Field {
  std::string name;
  Type type = Type::String;
  std::optional<Value> dflt;
  bool required = false;
  bool auto_id = false;  // an id the loader fills when absent
  // Kong's `auto = true` on a string: absent, it gets a random value (a
  // generated credential key or secret), as Kong's DB-less load does.
  bool auto_random = false;
  std::optional<std::pair<double, double>> between;
  std::vector<Value> one_of;
  std::optional<size_t> len_min, len_max;
  std::string starts_with;
  bool uuid = false;
  bool unique = false;        // unique across every entity of the type
  std::string reference;      // Foreign: entity type referenced ("services")
  std::vector<Custom> custom;  // run after the built-in checks, in order
  // Kong has the field; this gateway does not act on it yet. Only an unset,
  // empty or default value is accepted.
  bool unsupported = false;
  std::shared_ptr<Field> elements;     // Array, Set
  std::shared_ptr<Field> keys, values;  // Map
  std::vector<Field> fields;           // Record
  std::vector<EntityCheck> record_checks;  // Record: checks over its fields

  Field() = default;
  Field(std::string n, Type t) : name(std::move(n)), type(t) {}

  // Chainable setters keep the tables in entity_schemas.cc readable.
  Field& def(Value v) { dflt = std::move(v); return *this; }
  Field& req() { required = true; return *this; }
  Field& range(double lo, double hi) { between = {lo, hi}; return *this; }
  Field& choices(std::vector<Value> v) { one_of = std::move(v); return *this; }
  Field& min_len(size_t n) { len_min = n; return *this; }
  Field& max_len(size_t n) { len_max = n; return *this; }
  Field& prefix(std::string p) { starts_with = std::move(p); return *this; }
  Field& is_unique() { unique = true; return *this; }
  Field& check(Custom c) { custom.push_back(std::move(c)); return *this; }
  Field& not_yet() { unsupported = true; return *this; }
  Field& generated() { auto_random = true; return *this; }
  Field& of(Field e) { elements = std::make_shared<Field>(std::move(e)); return *this; }
  Field& map_of(Field k, Field v) {
    keys = std::make_shared<Field>(std::move(k));
    values = std::make_shared<Field>(std::move(v));
    return *this;
  }
  Field& with(std::vector<Field> f) { fields = std::move(f); return *this; }
  Field& named(std::string n) { name = std::move(n); return *this; }
};

// Rewrites a shorthand field (a service's `url`) into real fields before
// validation; reports problems as (field, reason).
using Shorthand = std::function<void(Value& entity, std::vector<std::pair<std::string, std::string>>& errors)>;

struct Schema {
  std::string name;        // Kong's entity type, plural: "services"
  std::string singular;    // used in messages: "service"
  std::string endpoint_key;  // "name", "username", "target", ... or ""
  std::vector<Field> fields;
  std::vector<EntityCheck> checks;
  std::vector<std::pair<std::string, Shorthand>> shorthands;
  // Keys that hold nested entities ("routes" under a service), handled by the
  // declarative loader rather than validated here.
  std::vector<std::string> nested;
  // Kong's cache key: the fields that identify an entity of this type when
  // its endpoint key alone does not (a target within its upstream); its id
  // derives from them.
  std::vector<std::string> cache_key;

  const Field* field(const std::string& n) const;
};

// Validates `entity` against `schema` in place: fills defaults, normalizes,
// and appends each problem to `errors` (paths relative to the entity).
void validate(const Schema& schema, Value& entity, std::vector<FieldError>& errors);

// The schema as Kong's Admin API shows it (schema_json.cc); the second form
// is the plugins entity with one plugin's config record in place of `config`.
Value kong_json(const Schema& s);
Value kong_json(const Schema& plugins, const Field& config);

// Validates one value against one field (used for records, plugin configs and
// the Admin API's PATCH of a single field).
void validate_field(const Field& field, Value& value, std::vector<std::string>& path,
                    std::vector<FieldError>& errors);

}  // namespace wg::config::schema

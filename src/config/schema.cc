#include "config/schema.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include <openssl/rand.h>

#include "config/uuid.h"

namespace wg::config::schema {
namespace {

using Errors = std::vector<FieldError>;

std::string number_text(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  std::string s = std::to_string(d);
  while (s.back() == '0') s.pop_back();
  return s;
}

std::string list_text(const std::vector<Value>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + show(v);
  return out;
}

bool contains(const std::vector<Value>& values, const Value& v) {
  for (const auto& c : values) {
    if (c == v) return true;
  }
  return false;
}

// Kong's "non-empty": set, and not an empty string, array or map.
bool nonempty(const Value* v) {
  if (v == nullptr || v->is_null()) return false;
  if (v->is_string()) return !v->get_ref<const std::string&>().empty();
  if (v->is_array() || v->is_object()) return !v->empty();
  return true;
}

void fail(Errors& errors, const std::vector<PathPart>& path, std::string message) {
  errors.push_back(FieldError{path, std::move(message)});
}

// The path of `field` inside the record at `base`.
std::vector<PathPart> under(const std::vector<PathPart>& base, const std::string& field) {
  std::vector<PathPart> out = base;
  if (!field.empty()) out.push_back(PathPart{field});
  return out;
}

const Value* member(const Value& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::vector<PathPart> to_parts(const std::vector<std::string>& path) {
  std::vector<PathPart> out;
  for (const auto& p : path) out.push_back(PathPart{p});
  return out;
}

// Type check, with the one normalization Kong does: 3.0 is an integer.
bool type_ok(const Field& f, Value& v, std::string* why) {
  switch (f.type) {
    case Type::String:
      *why = "expected a string";
      return v.is_string();
    case Type::Integer:
      *why = "expected an integer";
      if (v.is_number_integer()) return true;
      if (v.is_number_float()) {
        double d = v.get<double>();
        // Integral and within what an integer field can hold.
        if (std::floor(d) != d || !(std::fabs(d) < 9.2e18)) return false;
        v = static_cast<long long>(d);
        return true;
      }
      return false;
    case Type::Number:
      *why = "expected a number";
      return v.is_number();
    case Type::Boolean:
      *why = "expected a boolean";
      return v.is_boolean();
    case Type::Array:
      *why = "expected an array";
      return v.is_array();
    case Type::Set:
      *why = "expected a set";
      return v.is_array();
    case Type::Map:
      *why = "expected a map";
      return v.is_object();
    case Type::Record:
      *why = "expected a record";
      return v.is_object();
    case Type::Foreign:
      *why = "expected a " + f.name + " name or id";
      // A name or id, or {"id": ...} / {<endpoint key>: ...}: the loader
      // resolves it (and names it when nothing matches).
      return v.is_string() || (v.is_object() && !v.empty());
    case Type::Json:
      return true;
  }
  return false;
}

// An unsupported field passes only when it would not change behaviour.
bool harmless(const Field& f, const Value& v) {
  if (v.is_null()) return true;
  if ((v.is_array() || v.is_object()) && v.empty()) return true;
  return f.dflt && *f.dflt == v;
}

void validate_record(const std::vector<Field>& fields, Value& object, std::vector<PathPart>& path, Errors& errors,
                     const std::vector<std::string>* nested);
void run_checks(const std::vector<EntityCheck>& checks, const Value& object, const std::vector<PathPart>& base,
                Errors& errors, size_t from);

void validate_value(const Field& f, Value& v, std::vector<PathPart>& path, Errors& errors) {
  if (f.unsupported) {
    if (!harmless(f, v)) {
      fail(errors, path, f.dflt && !f.dflt->is_null() ? "not supported yet (only the default '" + show(*f.dflt) +
                                                            "' is accepted)"
                                                      : "not supported yet");
    }
    return;
  }
  std::string why;
  if (!type_ok(f, v, &why)) {
    fail(errors, path, why);
    return;
  }
  size_t before = errors.size();
  if (!f.one_of.empty() && !contains(f.one_of, v)) {
    fail(errors, path, "expected one of: " + list_text(f.one_of));
    return;
  }
  if (f.between && v.is_number()) {
    double d = v.get<double>();
    if (d < f.between->first || d > f.between->second) {
      fail(errors, path,
           "value should be between " + number_text(f.between->first) + " and " + number_text(f.between->second));
      return;
    }
  }
  // Kong: a string with no len_min of its own must not be empty.
  if (f.type == Type::String && !f.len_min && v.get_ref<const std::string&>().empty()) {
    fail(errors, path, "length must be at least 1");
    return;
  }
  if (f.len_min || f.len_max) {
    size_t len = v.is_string() ? v.get_ref<const std::string&>().size() : v.size();
    if (f.len_min && len < *f.len_min) {
      fail(errors, path, "length must be at least " + std::to_string(*f.len_min));
      return;
    }
    if (f.len_max && len > *f.len_max) {
      fail(errors, path, "length must be at most " + std::to_string(*f.len_max));
      return;
    }
  }
  if (!f.starts_with.empty() && v.is_string() && v.get_ref<const std::string&>().rfind(f.starts_with, 0) != 0) {
    fail(errors, path, "should start with: " + f.starts_with);
    return;
  }
  if (f.uuid && v.is_string() && !is_uuid(v.get_ref<const std::string&>())) {
    fail(errors, path, "expected a valid UUID");
    return;
  }
  switch (f.type) {
    case Type::Array:
    case Type::Set:
      if (f.elements) {
        for (size_t i = 0; i < v.size(); ++i) {
          path.push_back(PathPart{"", true, i});
          validate_value(*f.elements, v[i], path, errors);
          path.pop_back();
        }
      }
      break;
    case Type::Map:
      for (auto it = v.begin(); it != v.end(); ++it) {
        path.push_back(PathPart{it.key()});
        if (f.keys) {
          Value key = it.key();
          validate_value(*f.keys, key, path, errors);
        }
        if (f.values) validate_value(*f.values, it.value(), path, errors);
        path.pop_back();
      }
      break;
    case Type::Record: {
      size_t from = errors.size();
      validate_record(f.fields, v, path, errors, nullptr);
      run_checks(f.record_checks, v, path, errors, from);
      break;
    }
    default:
      break;
  }
  if (errors.size() != before) return;
  for (const auto& c : f.custom) {
    if (auto reason = c(v)) {
      fail(errors, path, *reason);
      return;
    }
  }
}

// Kong's random_string: 32 characters from the alphanumerics (Kong takes
// base64 of 24 random bytes and swaps its two symbols for letters).
std::string random_string() {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for a generated value");
  std::string out;
  for (unsigned char b : bytes) out += kAlphabet[b % 62];
  return out;
}

// Absent fields get their default; an absent record gets its fields'
// defaults (Kong shows a record's defaults on read).
void validate_member(const Field& f, Value& object, std::vector<PathPart>& path, Errors& errors) {
  path.push_back(PathPart{f.name});
  auto it = object.find(f.name);
  if (f.auto_random && (it == object.end() || it->is_null())) {
    object[f.name] = random_string();
  } else if (it == object.end()) {
    if (f.dflt) {
      object[f.name] = *f.dflt;
    } else if (f.type == Type::Record && !f.required && !f.unsupported) {
      Value fresh = Value::object();
      validate_record(f.fields, fresh, path, errors, nullptr);
      object[f.name] = std::move(fresh);
    } else if (f.required && !f.auto_id) {
      fail(errors, path, "required field missing");
    }
  } else if (it->is_null()) {
    if (f.required && !f.auto_id) fail(errors, path, "required field missing");
  } else {
    validate_value(f, *it, path, errors);
  }
  path.pop_back();
}

void validate_record(const std::vector<Field>& fields, Value& object, std::vector<PathPart>& path, Errors& errors,
                     const std::vector<std::string>* nested) {
  std::set<std::string> known;
  for (const auto& f : fields) known.insert(f.name);
  for (auto it = object.begin(); it != object.end();) {
    const std::string& key = it.key();
    // Kong accepts `_comment` and `_ignore` anywhere and keeps neither.
    if (key == "_comment" || key == "_ignore") {
      it = object.erase(it);
      continue;
    }
    bool is_nested = nested != nullptr && std::find(nested->begin(), nested->end(), key) != nested->end();
    if (!known.count(key) && !is_nested) {
      path.push_back(PathPart{key});
      fail(errors, path, "unknown field");
      path.pop_back();
    }
    ++it;
  }
  for (const auto& f : fields) validate_member(f, object, path, errors);
}

bool field_failed(const Errors& errors, size_t from, size_t depth, const std::string& name) {
  for (size_t i = from; i < errors.size(); ++i) {
    if (errors[i].path.size() > depth && errors[i].path[depth].key == name) return true;
  }
  return false;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

void run_check(const EntityCheck& c, const Value& e, const std::vector<PathPart>& base, Errors& errors) {
  using K = EntityCheck::Kind;
  auto count_set = [&](const std::vector<std::string>& names) {
    size_t n = 0;
    for (const auto& name : names) n += nonempty(member(e, name)) ? 1 : 0;
    return n;
  };
  auto message = [&](std::string generic) { return c.then_err.empty() ? generic : c.then_err; };
  switch (c.kind) {
    case K::AtLeastOneOf:
      if (count_set(c.fields) == 0) {
        fail(errors, base, message("at least one of these fields must be non-empty: " + quoted_list(c.fields)));
      }
      break;
    case K::OnlyOneOf:
      if (count_set(c.fields) != 1) {
        fail(errors, base, message("exactly one of these fields must be non-empty: " + quoted_list(c.fields)));
      }
      break;
    case K::MutuallyRequired: {
      size_t n = count_set(c.fields);
      if (n != 0 && n != c.fields.size()) {
        fail(errors, base, message("all or none of these fields must be set: " + quoted_list(c.fields)));
      }
      break;
    }
    case K::Distinct: {
      std::set<std::string> seen;
      size_t n = 0;
      for (const auto& name : c.fields) {
        const Value* v = member(e, name);
        if (v == nullptr || v->is_null()) continue;
        ++n;
        seen.insert(to_json(*v));
      }
      if (seen.size() != n) {
        fail(errors, base, message("values of these fields must be distinct: " + quoted_list(c.fields)));
      }
      break;
    }
    case K::MutuallyExclusiveSets: {
      size_t sets_used = 0;
      std::string text;
      for (const auto& s : c.sets) {
        sets_used += count_set(s) > 0 ? 1 : 0;
        text += (text.empty() ? "(" : ", (") + quoted_list(s) + ")";
      }
      if (sets_used > 1) fail(errors, base, message("these sets are mutually exclusive: " + text));
      break;
    }
    case K::Conditional:
    case K::ConditionalAtLeastOneOf: {
      const Value* cond = member(e, c.if_field);
      if (c.if_match.failure(cond ? *cond : Value())) break;
      if (c.kind == K::ConditionalAtLeastOneOf) {
        if (count_set(c.fields) == 0) {
          fail(errors, base, message("at least one of these fields must be non-empty: " + quoted_list(c.fields)));
        }
        break;
      }
      const Value* then = member(e, c.then_field);
      if (auto why = c.then_match.failure(then ? *then : Value())) {
        fail(errors, base, message("failed conditional validation given value of field '" + c.if_field + "'"));
        fail(errors, under(base, c.then_field), *why);
      }
      break;
    }
    case K::Custom: {
      std::vector<std::pair<std::string, std::string>> found;
      c.custom(e, found);
      for (auto& [field, reason] : found) {
        fail(errors, under(base, field), reason);
      }
      break;
    }
  }
}

std::vector<std::string> check_fields(const EntityCheck& c) {
  std::vector<std::string> out = c.fields;
  for (const auto& s : c.sets) out.insert(out.end(), s.begin(), s.end());
  if (!c.if_field.empty()) out.push_back(c.if_field);
  if (!c.then_field.empty()) out.push_back(c.then_field);
  return out;
}

// Each check runs unless a field it looks at already failed.
void run_checks(const std::vector<EntityCheck>& checks, const Value& object, const std::vector<PathPart>& base,
                Errors& errors, size_t from) {
  for (const auto& c : checks) {
    bool clean = true;
    for (const auto& name : check_fields(c)) clean = clean && !field_failed(errors, from, base.size(), name);
    if (clean) run_check(c, object, base, errors);
  }
}

}  // namespace

std::optional<std::string> Match::failure(const Value& v) const {
  bool set = !v.is_null();
  if (required && !set) return "required field missing";
  if (!one_of.empty() && !contains(one_of, v)) return "expected one of: " + list_text(one_of);
  return std::nullopt;
}

const Field* Schema::field(const std::string& n) const {
  for (const auto& f : fields) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

void validate(const Schema& schema, Value& entity, std::vector<FieldError>& errors) {
  if (!entity.is_object()) {
    errors.push_back(FieldError{{}, "expected a mapping"});
    return;
  }
  size_t from = errors.size();
  for (const auto& [name, expand] : schema.shorthands) {
    if (!entity.contains(name)) continue;
    std::vector<std::pair<std::string, std::string>> found;
    expand(entity, found);
    for (auto& [field, reason] : found) errors.push_back(FieldError{to_parts({field}), reason});
  }
  bool shorthand_failed = errors.size() != from;
  std::vector<PathPart> path;
  validate_record(schema.fields, entity, path, errors, &schema.nested);
  if (shorthand_failed) {
    // The fields a broken shorthand would have set are not missing too.
    std::erase_if(errors, [&](const FieldError& e) { return e.message == "required field missing"; });
  }
  run_checks(schema.checks, entity, path, errors, from);
}

void validate_field(const Field& field, Value& value, std::vector<std::string>& path, std::vector<FieldError>& errors) {
  std::vector<PathPart> parts = to_parts(path);
  validate_value(field, value, parts, errors);
}

}  // namespace wg::config::schema

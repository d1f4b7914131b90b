#include "admin/entity_writes.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <set>
#include <stdexcept>

#include "admin/form_body.h"
#include "admin/kong_api.h"
#include "config/credentials.h"
#include "config/declarative.h"
#include "config/entity_schemas.h"
#include "config/errors.h"
#include "config/schema.h"
#include "config/uuid.h"
#include "core/log.h"

namespace wg::admin {
namespace {

using config::Value;
using config::schema::Schema;
using config::schema::Type;

Response message(int status, const std::string& text) { return json(status, Value{{"message", text}}); }

// Kong's on_delete: references from these entity types cascade (their
// schemas say on_delete = "cascade": plugins, filter chains, targets and a
// consumer's credentials); every other reference restricts (a route's
// service, an SNI's certificate), so the parent cannot go while one exists.
bool cascades(const std::string& child_type) {
  static const std::set<std::string> kCascading = {
      "plugins", "filter_chains", "targets", "keyauth_credentials", "basicauth_credentials",
      "jwt_secrets", "hmacauth_credentials", "acls"};
  return kCascading.count(child_type) != 0;
}

// A random (version 4) UUID: Kong's id for an entity created without one.
std::string random_uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no random bytes for an entity id");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool read_entity_body(const Request& req, const Schema& schema, Value* out, Response* refusal) {
  const std::string* header = req.header("Content-Type");
  std::string type = header != nullptr ? lower(*header) : "";
  if (req.body.empty() && (type.empty() || type.rfind("application/json", 0) == 0 ||
                           type.rfind("application/x-www-form-urlencoded", 0) == 0)) {
    *out = Value::object();
    return true;
  }
  if (type.rfind("application/json", 0) == 0) {
    *out = Value::parse(req.body, nullptr, false);
    if (out->is_object()) return true;
    *refusal = message(400, "Cannot parse JSON body");
    return false;
  }
  bool form = type.rfind("application/x-www-form-urlencoded", 0) == 0;
  if (form || type.rfind("multipart/form-data", 0) == 0) {
    std::string error;
    bool parsed = form ? parse_form(req.body, out, &error) : parse_multipart(req.body, *header, out, &error);
    if (!parsed) {
      *refusal = message(400, error);
      return false;
    }
    infer_entity_types(schema, *out);
    return true;
  }
  *refusal = message(415, "Unsupported Media Type");
  return false;
}

namespace {

// Kong's PATCH: fields given replace the stored ones; records (a plugin's
// config) merge field by field; arrays are replaced whole.
void merge(Value& into, const Value& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    Value& target = into[it.key()];
    if (it->is_object() && target.is_object()) {
      merge(target, *it);
    } else {
      target = *it;
    }
  }
}

// Where `key` (an id or endpoint key) names an entity of `list` within
// `scope`, or -1.
long locate(const Value& list, const Endpoint& e, const std::string& key, const Scope* scope) {
  for (size_t i = 0; i < list.size(); ++i) {
    const Value& v = list[i];
    if (scope != nullptr && ref_id(v, scope->foreign) != scope->parent_id) continue;
    if (auto id = v.find("id"); id != v.end() && id->is_string() && id->get_ref<const std::string&>() == key) {
      return static_cast<long>(i);
    }
    for (const char* k : e.keys) {
      auto f = v.find(k);
      if (f != v.end() && f->is_string() && f->get_ref<const std::string&>() == key) return static_cast<long>(i);
    }
  }
  return -1;
}

// A plugin's config checked by its own schema (the entity's fields passed).
void check_plugin_config(Value& plugin, std::vector<config::FieldError>& errors) {
  std::string name = plugin.value("name", "");
  const config::PluginSchema* schema = config::plugin_schema(name);
  if (schema == nullptr) {
    errors.push_back(config::FieldError{{config::PathPart{"name"}},
                                        "plugin '" + name +
                                            "' not enabled; add it to the 'plugins' configuration property"});
    return;
  }
  if (!plugin.contains("config") || plugin["config"].is_null()) plugin["config"] = Value::object();
  std::vector<std::string> path = {"config"};
  config::schema::validate_field(schema->config, plugin["config"], path, errors);
}

// Each reference resolved to {"id": ...} of an entity in `all`; the answer
// is Kong's foreign key violation when one names nothing.
bool resolve_references(const Schema& schema, const Value& all, Value& entity, Response* refusal) {
  for (const auto& f : schema.fields) {
    if (f.type != Type::Foreign || f.unsupported) continue;
    auto ref = entity.find(f.name);
    if (ref == entity.end() || ref->is_null()) continue;
    const Schema* target = config::entity_schema(f.reference);
    std::string key = ref->is_object() ? ref->value("id", "") : "";
    if (key.empty() && ref->is_object() && target != nullptr && !target->endpoint_key.empty()) {
      key = ref->value(target->endpoint_key, "");
    }
    const Value* found = nullptr;
    for (const auto& candidate : list_of(all, f.reference.c_str())) {
      bool by_key = target != nullptr && !target->endpoint_key.empty() &&
                    candidate.value(target->endpoint_key, Value()) == Value(key);
      if (candidate.value("id", "") == key || by_key) found = &candidate;
    }
    if (found == nullptr) {
      *refusal = json(400, config::foreign_key_violation(f.name, f.reference, Value(key)));
      return false;
    }
    *ref = Value{{"id", (*found)["id"]}};
  }
  return true;
}

// Whether `entity`'s field `name` holds `value` (compared in place: this
// runs once per stored entity on every write).
bool same_field(const Value& entity, const char* name, const Value& value) {
  auto f = entity.find(name);
  return f != entity.end() ? *f == value : value.is_null();
}

// Kong's 409 when another entity of the type has the same id or the same
// value of a unique field.
bool check_unique(const Schema& schema, const Value& list, long at, const Value& entity, Response* refusal) {
  std::vector<std::string> fields = {"id"};
  for (const auto& f : schema.fields) {
    if (f.unique) fields.push_back(f.name);
  }
  for (const auto& name : fields) {
    auto mine = entity.find(name);
    if (mine == entity.end() || mine->is_null()) continue;
    for (size_t i = 0; i < list.size(); ++i) {
      if (static_cast<long>(i) == at || !same_field(list[i], name.c_str(), *mine)) continue;
      if (name == "id") {
        Value err = config::unique_violation("id", *mine);
        err["code"] = static_cast<int>(config::ErrorCode::PrimaryKeyViolation);
        err["name"] = "primary key violation";
        err["message"] = "primary key violation on key '" + config::lua_table("id", *mine) + "'";
        *refusal = json(409, err);
      } else {
        *refusal = json(409, config::unique_violation(name, *mine));
      }
      return false;
    }
  }
  return true;
}

// Every problem the normalizer found, as one schema violation.
Response refused(const std::vector<config::Problem>& problems) {
  std::vector<config::FieldError> errors;
  for (const auto& p : problems) errors.push_back(p.error);
  return json(400, config::schema_violation(errors));
}

// A build's problem lines as one schema violation: "... field 'F': why"
// becomes F's error, any other line an entity check ('@entity').
Response build_refused(const std::vector<std::string>& lines) {
  static const std::string kField = " field '";
  std::vector<config::FieldError> errors;
  for (const auto& line : lines) {
    size_t at = line.find(kField);
    size_t end = at == std::string::npos ? at : line.find("': ", at + kField.size());
    if (end == std::string::npos) {
      errors.push_back(config::FieldError{{}, line});
      continue;
    }
    std::string field = line.substr(at + kField.size(), end - at - kField.size());
    errors.push_back(config::FieldError{{config::PathPart{field}}, line.substr(end + 3)});
  }
  return json(400, config::schema_violation(errors));
}

// The entity a POST, PUT or PATCH writes: the body, merged over the stored
// entity for PATCH, with its id, parent and timestamps settled.
Value compose(const Request& req, const Schema& schema, const Value* stored, const std::string* key,
              const Scope* scope, Value body) {
  Value entity = Value::object();
  if (req.method == "PATCH" && stored != nullptr) {
    entity = *stored;
    merge(entity, body);
  } else {
    entity = std::move(body);
  }
  if (scope != nullptr) entity[scope->foreign] = Value{{"id", scope->parent_id}};
  if (req.method == "PUT" && key != nullptr) {
    if (config::is_uuid(*key)) {
      entity["id"] = *key;
    } else if (!schema.endpoint_key.empty()) {
      entity[schema.endpoint_key] = *key;
    }
  }
  // Kong's key-auth key is `auto`: a credential created without one gets a
  // random key (the declarative loader keeps requiring it: a file's keys
  // must not change on every reload).
  if (schema.name == "keyauth_credentials" && stored == nullptr && (!entity.contains("key") || entity["key"].is_null())) {
    entity["key"] = random_uuid();
  }
  if (stored != nullptr) {
    entity["id"] = (*stored)["id"];
  } else if (!entity.contains("id") || entity["id"].is_null()) {
    entity["id"] = random_uuid();
  }
  long long now = static_cast<long long>(std::time(nullptr));
  if (schema.field("created_at") != nullptr) {
    entity["created_at"] = stored != nullptr && stored->contains("created_at") ? (*stored)["created_at"] : Value(now);
  }
  if (schema.field("updated_at") != nullptr) entity["updated_at"] = now;
  return entity;
}

// Kong's cache key as a unique constraint (a plugin's name and scope, an
// acl's consumer and group, a target's upstream and address): 409 when
// another entity has the same values.
bool check_cache_key(const Schema& schema, const Value& list, long at, const Value& entity, Response* refusal) {
  if (schema.cache_key.size() < 2) return true;
  static const Value kNull;
  for (size_t i = 0; i < list.size(); ++i) {
    if (static_cast<long>(i) == at) continue;
    bool same = std::all_of(schema.cache_key.begin(), schema.cache_key.end(), [&](const std::string& f) {
      auto mine = entity.find(f);
      return same_field(list[i], f.c_str(), mine != entity.end() ? *mine : kNull);
    });
    if (!same) continue;
    std::vector<std::string> names(schema.cache_key.begin(), schema.cache_key.end());
    std::sort(names.begin(), names.end());  // Kong prints the key's fields sorted
    std::string shown;
    Value fields = Value::object();
    for (const auto& f : names) {
      const Value v = entity.value(f, Value());
      fields[f] = v;
      std::string rendered = v.is_null() ? "null" : v.is_object() ? config::lua_table("id", v.value("id", Value())) : config::show(v);
      if (v.is_string()) rendered = "\"" + rendered + "\"";
      shown += (shown.empty() ? "" : ",") + f + "=" + rendered;
    }
    Value err = config::unique_violation(names.front(), Value());
    err["message"] = "UNIQUE violation detected on '{" + shown + "}'";
    err["fields"] = std::move(fields);
    *refusal = json(409, err);
    return false;
  }
  return true;
}

// The part of the store the declarative normalizer needs to check `entity`
// (of `type`) as the loader would: the entities it references, and theirs,
// and for targets and filter chains the siblings the loader's per-parent
// checks compare it with. Everything else is stored and already valid, so
// a write costs the same with 10 or 10,000 entities around it.
Value check_slice(const Value& all, const std::string& type, const Value& entity) {
  Value slice = store::empty_config();
  std::set<std::pair<std::string, std::string>> seen = {{type, entity.value("id", "")}};
  slice[type].push_back(entity);
  std::vector<std::pair<std::string, Value>> work = {{type, entity}};
  while (!work.empty()) {
    auto [t, v] = std::move(work.back());
    work.pop_back();
    for (const auto& f : config::entity_schema(t)->fields) {
      std::string id = f.type == Type::Foreign && !f.unsupported ? ref_id(v, f.name.c_str()) : "";
      if (id.empty() || !seen.insert({f.reference, id}).second) continue;
      for (const auto& candidate : list_of(all, f.reference.c_str())) {
        if (candidate.value("id", "") != id) continue;
        slice[f.reference].push_back(candidate);
        work.emplace_back(f.reference, candidate);
      }
    }
  }
  const char* parents[] = {"upstream", "service", "route"};
  if (type == "targets" || type == "filter_chains") {
    for (const auto& sibling : list_of(all, type.c_str())) {
      if (sibling.value("id", "") == entity.value("id", "")) continue;
      bool shares = std::any_of(std::begin(parents), std::end(parents), [&](const char* p) {
        return !ref_id(entity, p).empty() && ref_id(sibling, p) == ref_id(entity, p);
      });
      if (shares) slice[type].push_back(sibling);
    }
  }
  return slice;
}

Response upsert(const WriteContext& ctx, const Request& req, const Endpoint& e, const Schema& schema,
                const std::string* key, const Scope* scope) {
  std::shared_ptr<const Value> current = ctx.store->current();
  const Value& list = list_of(*current, e.entity);
  long at = key != nullptr ? locate(list, e, *key, scope) : -1;
  if (req.method == "PATCH" && at < 0) return message(404, "Not found");
  Value body;
  Response refusal;
  if (!read_entity_body(req, schema, &body, &refusal)) return refusal;
  bool password_given = body.contains("password") && body["password"].is_string();
  Value entity = compose(req, schema, at >= 0 ? &list[static_cast<size_t>(at)] : nullptr, key, scope, std::move(body));

  std::vector<config::FieldError> errors;
  config::schema::validate(schema, entity, errors);
  if (errors.empty() && schema.name == "plugins") check_plugin_config(entity, errors);
  if (!errors.empty()) return json(400, config::schema_violation(errors));
  if (!resolve_references(schema, *current, entity, &refusal)) return refusal;
  if (!check_unique(schema, list, at, entity, &refusal)) return refusal;
  if (!check_cache_key(schema, list, at, entity, &refusal)) return refusal;
  if (schema.name == "basicauth_credentials" && password_given) {
    // Kong hashes the password when it is written, salted with the consumer.
    entity["password"] = config::basicauth_password_hash(ref_id(entity, "consumer"), entity["password"].get<std::string>());
  }
  const std::string id = entity["id"].get<std::string>();

  // The declarative loader's own checks over the change and what it touches.
  config::Normalized n = config::normalize(check_slice(*current, e.entity, entity));
  if (!n.problems.empty()) return refused(n.problems);
  // What only a build finds (a plugin's own checks, a filter's config, a
  // filter missing from the filters directory), before anything is stored.
  // Only plugins and filter chains build anything that can fail; a write of
  // anything else neither waits for a publish nor rescans the filters.
  bool builds = !list_of(n.config, "plugins").empty() || !list_of(n.config, "filter_chains").empty();
  if (std::vector<std::string> problems; builds && ctx.check_build && !ctx.check_build(n.config, &problems)) {
    return build_refused(problems);
  }
  Value answer;
  for (auto& v : n.config[e.entity]) {
    if (v.value("id", "") == id) answer = std::move(v);
  }
  if (!answer.is_object()) return message(500, "An unexpected error occurred");

  // The next config: the store's contents with the change.
  Value next = *current;
  Value& next_list = next[e.entity];
  if (at >= 0) {
    next_list[static_cast<size_t>(at)] = answer;
  } else {
    next_list.push_back(answer);
  }
  std::string error;
  if (!ctx.store->commit(std::move(next), {store::put_row(e.entity, answer)}, &error)) {
    WG_LOG(Error, "store write failed: %s", error.c_str());
    return message(500, "An unexpected error occurred");
  }
  ctx.changed();
  return json(req.method == "POST" ? 201 : 200, answer);
}

// The entity and everything that cascades from it, in deletion order; false
// with Kong's answer when a restricting reference holds it.
bool doomed_by(const Value& all, const std::string& type, const std::string& id,
               std::vector<std::pair<std::string, std::string>>* doomed, Response* refusal) {
  doomed->emplace_back(type, id);
  for (size_t i = 0; i < doomed->size(); ++i) {
    const auto [parent_type, parent_id] = (*doomed)[i];
    for (const Schema* child : config::entity_schemas()) {
      for (const auto& f : child->fields) {
        if (f.type != Type::Foreign || f.reference != parent_type) continue;
        for (const auto& v : list_of(all, child->name.c_str())) {
          if (ref_id(v, f.name.c_str()) != parent_id) continue;
          if (!cascades(child->name)) {
            Value err = Value::object();
            err["code"] = static_cast<int>(config::ErrorCode::ForeignKeyViolation);
            err["name"] = "foreign key violation";
            err["message"] = "an existing '" + child->name + "' entity references this '" + parent_type + "' entity";
            err["fields"] = Value{{"@referenced_by", child->name}};
            *refusal = json(400, err);
            return false;
          }
          std::pair<std::string, std::string> row(child->name, v.value("id", ""));
          if (std::find(doomed->begin(), doomed->end(), row) == doomed->end()) doomed->push_back(row);
        }
      }
    }
  }
  return true;
}

Response remove(const WriteContext& ctx, const Endpoint& e, const std::string& key, const Scope* scope) {
  std::shared_ptr<const Value> current = ctx.store->current();
  const Value& list = list_of(*current, e.entity);
  long at = locate(list, e, key, scope);
  if (at < 0) {
    // Kong answers 204 for an entity that is already gone, 404 for one
    // that exists under another parent.
    if (scope != nullptr && locate(list, e, key, nullptr) >= 0) return message(404, "Not found");
    Response r;
    r.status = 204;
    return r;
  }
  std::vector<std::pair<std::string, std::string>> doomed;
  Response refusal;
  if (!doomed_by(*current, e.entity, list[static_cast<size_t>(at)].value("id", ""), &doomed, &refusal)) return refusal;
  Value next = *current;
  std::vector<store::Change> changes;
  for (const auto& [type, id] : doomed) {
    Value& of_type = next[type];
    for (size_t i = 0; i < of_type.size(); ++i) {
      if (of_type[i].value("id", "") != id) continue;
      of_type.erase(i);
      break;
    }
    changes.push_back(store::delete_row(type, id));
  }
  std::string error;
  if (!ctx.store->commit(std::move(next), changes, &error)) {
    WG_LOG(Error, "store delete failed: %s", error.c_str());
    return message(500, "An unexpected error occurred");
  }
  ctx.changed();
  Response r;
  r.status = 204;
  return r;
}

}  // namespace

Response write_entity(const WriteContext& ctx, const Request& req, const Endpoint& e, const std::string* key,
                      const Scope* scope) {
  const Schema* schema = config::entity_schema(e.entity);
  if (schema == nullptr) return message(404, "Not found");
  if (req.method == "DELETE") return key != nullptr ? remove(ctx, e, *key, scope) : message(405, "Method not allowed");
  bool on_collection = key == nullptr;
  if ((req.method == "POST") != on_collection) return message(405, "Method not allowed");
  return upsert(ctx, req, e, *schema, key, scope);
}

}  // namespace wg::admin

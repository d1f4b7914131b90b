#include "config/declarative.h"

#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "config/credentials.h"
#include "config/entity_schemas.h"
#include "config/schema.h"
#include "config/uuid.h"

namespace wg::config {
namespace {

using schema::Schema;
using schema::Type;

// Where nested entities go: (parent type, key) -> (child type, child field
// that references the parent).
struct Nesting {
  const char* parent;
  const char* key;
  const char* child;
  const char* foreign;
};
constexpr Nesting kNesting[] = {
    {"certificates", "snis", "snis", "certificate"},
    {"services", "routes", "routes", "service"},
    {"services", "filter_chains", "filter_chains", "service"},
    {"services", "plugins", "plugins", "service"},
    {"routes", "filter_chains", "filter_chains", "route"},
    {"routes", "plugins", "plugins", "route"},
    {"upstreams", "targets", "targets", "upstream"},
    {"consumers", "plugins", "plugins", "consumer"},
    {"consumers", "keyauth_credentials", "keyauth_credentials", "consumer"},
    {"consumers", "acls", "acls", "consumer"},
    {"consumers", "basicauth_credentials", "basicauth_credentials", "consumer"},
    {"consumers", "hmacauth_credentials", "hmacauth_credentials", "consumer"},
    {"consumers", "jwt_secrets", "jwt_secrets", "consumer"},
};

// Top-level keys that carry metadata (Kong's and decK's), accepted and kept out
// of the entities.
const std::set<std::string> kMetaKeys = {"_format_version", "_transform", "_workspace", "_comment",
                                         "_ignore",         "_info",      "_konnect",   "_plugin_configs"};

const char* kBundledPlugins[] = {
    "acl", "acme", "ai-proxy", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template",
    "ai-request-transformer", "ai-response-transformer", "aws-lambda", "azure-functions", "basic-auth",
    "bot-detection", "correlation-id", "cors", "datadog", "file-log", "grpc-gateway", "grpc-web", "hmac-auth",
    "http-log", "ip-restriction", "jwt", "key-auth", "ldap-auth", "loggly", "oauth2", "opentelemetry",
    "post-function", "pre-function", "prometheus", "proxy-cache", "rate-limiting", "redirect",
    "request-size-limiting", "request-termination", "request-transformer", "response-ratelimiting",
    "response-transformer", "session", "standard-webhooks", "statsd", "syslog", "tcp-log", "udp-log", "zipkin"};

bool bundled_plugin(const std::string& name) {
  for (const char* p : kBundledPlugins) {
    if (name == p) return true;
  }
  return false;
}

std::string singular_of(const std::string& plural) {
  return plural.size() > 1 && plural.back() == 's' ? plural.substr(0, plural.size() - 1) : plural;
}

struct Entry {
  Value value;
  std::string label;
  size_t position = 0;
  bool generated_id = false;
  // Set for nested entities: the parent's type and index, and the field of
  // this entity that points at it.
  std::string parent_type;
  size_t parent_index = 0;
  std::string parent_field;
  // References as written (before resolution to {"id": ...}): Kong derives
  // target and plugin ids from them.
  Value written_refs = Value::object();
};

class Normalizer {
 public:
  Normalized run(Value root);

 private:
  void top_level(Value& root);
  void add(const Schema& s, Value entity, size_t position, const std::string& parent_type, size_t parent_index,
           const std::string& parent_field);
  void check_plugin(Entry& e);
  void translate_legacy_paths(Value& route, const std::string& label);
  void resolve(const Schema& s);
  void assign_ids(const Schema& s);
  void check_unique(const Schema& s);
  std::string cache_key(const Schema& s, const Entry& e);
  void check_targets();
  void check_filter_chains();
  void read_transform(const Value& root);
  void hash_basicauth_passwords();
  void fill_hmacauth_secrets();
  std::optional<size_t> find(const std::string& type, const Value& ref) const;
  std::string label_for(const Schema& s, const Value& entity, size_t position) const;
  void problem(const std::string& kind, const std::string& label, std::vector<PathPart> path, std::string message) {
    out_.problems.push_back(Problem{kind, label, FieldError{std::move(path), std::move(message)}});
  }

  std::map<std::string, std::vector<Entry>> entities_;
  std::string format_ = "3.0";
  bool transform_ = true;  // Kong's _transform: hash basic-auth passwords on load
  Normalized out_;
};

std::string Normalizer::label_for(const Schema& s, const Value& entity, size_t position) const {
  if (entity.is_object() && !s.endpoint_key.empty()) {
    auto it = entity.find(s.endpoint_key);
    if (it != entity.end() && it->is_string()) return it->get<std::string>();
  }
  if (s.name == "plugins" && entity.is_object() && entity.contains("name") && entity["name"].is_string()) {
    return entity["name"].get<std::string>();
  }
  return std::to_string(position);
}

void Normalizer::top_level(Value& root) {
  auto version = root.find("_format_version");
  if (version == root.end()) {
    problem("config", "root", {PathPart{"_format_version"}}, "required field missing");
  } else {
    // An unquoted 3.0 reads as a number; Kong accepts it too.
    format_ = version->is_string() ? version->get<std::string>() : to_json(*version);
    if (format_ != "3.0" && format_ != "2.1" && format_ != "1.1") {
      problem("config", "root", {PathPart{"_format_version"}}, "unsupported version (expected \"3.0\", \"2.1\" or \"1.1\")");
    }
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    if (kMetaKeys.count(key)) continue;
    const Schema* s = entity_schema(key);
    bool not_yet = entity_not_supported_yet(key);
    if (s == nullptr && !not_yet) {
      problem("config", "root", {PathPart{key}}, "unknown entity type");
      continue;
    }
    if (it->is_null()) continue;
    if (!it->is_array()) {
      problem("config", "root", {PathPart{key}}, "expected an array");
      continue;
    }
    if (not_yet) {
      // Each entry is named, so a migrating user sees everything to remove.
      std::string label_field = not_yet_label_field(key);
      for (size_t i = 0; i < it->size(); ++i) {
        const Value& e = (*it)[i];
        std::string label = e.is_object() && e.contains(label_field) && e[label_field].is_string()
                                ? e[label_field].get<std::string>()
                                : std::to_string(i);
        problem(singular_of(key), label, {}, "entity type '" + key + "' is not supported yet");
      }
    }
  }
  for (const Schema* s : entity_schemas()) {
    auto it = root.find(s->name);
    if (it == root.end() || !it->is_array()) continue;
    for (size_t i = 0; i < it->size(); ++i) add(*s, std::move((*it)[i]), i, "", 0, "");
  }
}

void Normalizer::add(const Schema& s, Value entity, size_t position, const std::string& parent_type,
                     size_t parent_index, const std::string& parent_field) {
  std::string label = label_for(s, entity, position);
  Entry e;
  e.label = label;
  e.position = position;
  e.parent_type = parent_type;
  e.parent_index = parent_index;
  e.parent_field = parent_field;
  // Children are taken out first; they are added once this entity has its
  // index, so they can point at it.
  std::vector<std::pair<std::string, Value>> children;
  if (entity.is_object()) {
    for (const auto& n : kNesting) {
      if (s.name != n.parent || !entity.contains(n.key)) continue;
      children.emplace_back(n.key, std::move(entity[n.key]));
      entity.erase(n.key);
    }
    if (!parent_field.empty() && entity.contains(parent_field) && !entity[parent_field].is_null()) {
      std::string child = singular_of(s.name), parent = singular_of(parent_type);
      for (auto& c : child) c = c == '_' ? ' ' : c;
      problem(s.singular, label, {PathPart{parent_field}},
              "cannot be set on a " + child + " nested under " + (parent[0] == 'u' ? "an " : "a ") + parent);
      entity.erase(parent_field);
    }
    // The parent's id is known once every entity is in; resolve() fills it.
    if (!parent_field.empty()) entity[parent_field] = Value{{"id", nullptr}};
    if (s.name == "routes" && format_ != "3.0") translate_legacy_paths(entity, label);
  }
  std::vector<FieldError> errors;
  schema::validate(s, entity, errors);
  for (auto& err : errors) out_.problems.push_back(Problem{s.singular, label, std::move(err)});
  e.value = std::move(entity);
  auto& list = entities_[s.name];
  list.push_back(std::move(e));
  size_t index = list.size() - 1;
  if (s.name == "plugins") check_plugin(list.back());
  for (auto& [key, value] : children) {
    if (value.is_null()) continue;
    if (!value.is_array()) {
      problem(s.singular, label, {PathPart{key}}, "expected an array");
      continue;
    }
    for (const auto& n : kNesting) {
      if (s.name != n.parent || key != n.key) continue;
      const Schema* child = entity_schema(n.child);
      for (size_t i = 0; i < value.size(); ++i) add(*child, std::move(value[i]), i, s.name, index, n.foreign);
    }
  }
}

// A plugin's name must be one this gateway has a schema for; its config is
// validated and defaulted by that schema.
void Normalizer::check_plugin(Entry& e) {
  Value& p = e.value;
  if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) return;
  const std::string name = p["name"].get<std::string>();
  const PluginSchema* plugin = plugin_schema(name);
  if (plugin == nullptr) {
    problem("plugin", e.label, {PathPart{"name"}},
            bundled_plugin(name) ? "plugin '" + name + "' is not supported yet" : "plugin '" + name + "' not found");
    return;
  }
  if (plugin->no_consumer && p.contains("consumer") && !p["consumer"].is_null()) {
    problem("plugin", e.label, {PathPart{"consumer"}}, "value must be null");
  }
  if (!p.contains("config") || p["config"].is_null()) p["config"] = Value::object();
  std::vector<std::string> path = {"config"};
  std::vector<FieldError> errors;
  schema::validate_field(plugin->config, p["config"], path, errors);
  for (auto& err : errors) out_.problems.push_back(Problem{"plugin", e.label, std::move(err)});
}

// Before 3.0, Kong treated any path with characters outside a plain path's
// alphabet as a regex; 3.0 wants those marked with "~". Kong 3.x translates
// files written in the older formats, and so do we.
void Normalizer::translate_legacy_paths(Value& route, const std::string& label) {
  auto it = route.find("paths");
  if (it == route.end() || !it->is_array()) return;
  for (auto& p : *it) {
    if (!p.is_string()) continue;
    const std::string& path = p.get_ref<const std::string&>();
    if (path.empty() || path[0] == '~') continue;
    bool plain = path.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_~/%") ==
                 std::string::npos;
    if (plain) continue;
    out_.warnings.push_back("route '" + label + "': path '" + path + "' is a regex in _format_version " + format_ +
                            "; read as '~" + path + "'");
    p = "~" + path;
  }
}

std::optional<size_t> Normalizer::find(const std::string& type, const Value& ref) const {
  auto it = entities_.find(type);
  if (it == entities_.end()) return std::nullopt;
  const Schema* s = entity_schema(type);
  std::string key;
  if (ref.is_string()) {
    key = ref.get<std::string>();
  } else if (ref.is_object() && ref.contains("id") && ref["id"].is_string()) {
    key = ref["id"].get<std::string>();  // a name here is accepted too, as decK writes them
  } else if (ref.is_object() && s != nullptr && ref.contains(s->endpoint_key) && ref[s->endpoint_key].is_string()) {
    key = ref[s->endpoint_key].get<std::string>();
  } else {
    return std::nullopt;
  }
  for (size_t i = 0; i < it->second.size(); ++i) {
    const Value& v = it->second[i].value;
    if (!v.is_object()) continue;
    if (v.contains("id") && v["id"] == key) return i;
    if (s != nullptr && !s->endpoint_key.empty() && v.contains(s->endpoint_key) &&
        v[s->endpoint_key] == key) {
      return i;
    }
  }
  return std::nullopt;
}

// Replaces each reference with {"id": ...} of the entity it names.
void Normalizer::resolve(const Schema& s) {
  for (auto& e : entities_[s.name]) {
    if (!e.value.is_object()) continue;
    if (!e.parent_field.empty()) {
      const Value& parent = entities_[e.parent_type][e.parent_index].value;
      if (parent.is_object() && parent.contains("id")) e.value[e.parent_field] = Value{{"id", parent["id"]}};
    }
    // Its other references (a plugin nested under a consumer may name a
    // route or a service) are looked up as a top-level entity's.
    for (const auto& f : s.fields) {
      if (f.type != Type::Foreign || f.unsupported || f.name == e.parent_field) continue;
      auto it = e.value.find(f.name);
      if (it == e.value.end() || it->is_null()) continue;
      e.written_refs[f.name] = *it;
      auto target = find(f.reference, *it);
      if (!target) {
        problem(s.singular, e.label, {PathPart{f.name}},
                "invalid reference '" + f.name + ": " + show(*it) + "' (no such entry in '" + f.reference + "')");
        continue;
      }
      *it = Value{{"id", entities_[f.reference][*target].value["id"]}};
    }
  }
}

// Entities without an id get one derived from what identifies them, so the
// same file always yields the same ids (Kong's DB-less scheme where Kong
// has one: the endpoint key, with the parent's id first when the key is only
// unique within its parent).
void Normalizer::assign_ids(const Schema& s) {
  for (auto& e : entities_[s.name]) {
    Value& v = e.value;
    if (!v.is_object() || (v.contains("id") && !v["id"].is_null())) continue;
    std::string key;
    if (!s.cache_key.empty()) {
      key = cache_key(s, e);
    } else if (!s.endpoint_key.empty() && v.contains(s.endpoint_key) && v[s.endpoint_key].is_string()) {
      key = v[s.endpoint_key].get<std::string>();
    } else {
      // Nothing identifies it (Kong would pick a random id): its place does.
      std::string parent;
      if (!e.parent_type.empty()) parent = show(entities_[e.parent_type][e.parent_index].value.value("id", Value("")));
      key = parent + "#" + std::to_string(e.position);
    }
    v["id"] = entity_uuid(s.name, key);
    e.generated_id = true;
  }
}

// Kong's key for entities with a cache key: "targets:*:<upstream>:<target>",
// each part as written, a nested child's parent by its id.
std::string Normalizer::cache_key(const Schema& s, const Entry& e) {
  std::string key = s.name + ":*";
  for (const auto& field : s.cache_key) {
    if (field == e.parent_field) {
      key += ":" + show(entities_[e.parent_type][e.parent_index].value.value("id", Value("")));
      continue;
    }
    const Value& written = e.written_refs.contains(field) ? e.written_refs[field] : e.value.value(field, Value());
    if (written.is_string()) {
      key += ":" + written.get<std::string>();
    } else if (written.is_null()) {
      key += ":";
    }
  }
  return key;
}

void Normalizer::check_unique(const Schema& s) {
  std::vector<std::string> unique = {"id"};
  for (const auto& f : s.fields) {
    if (f.unique) unique.push_back(f.name);
  }
  for (const auto& field : unique) {
    std::set<std::string> seen;
    for (const auto& e : entities_[s.name]) {
      if (!e.value.is_object() || !e.value.contains(field) || !e.value[field].is_string()) continue;
      // Generated ids repeat only when what they derive from does, which the
      // name and target checks report.
      if (field == "id" && e.generated_id && s.name != "plugins") continue;
      std::string v = e.value[field].get<std::string>();
      if (!seen.insert(v).second) {
        problem(s.singular, e.label, {PathPart{field}},
                "uniqueness violation: '" + s.name + "' entity with " + (field == "id" ? "primary key" : field) +
                    " set to '" + v + "' already declared");
      }
    }
  }
}

// Kong: one target per address within an upstream ("h" is "h:8000").
void Normalizer::check_targets() {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& e : entities_["targets"]) {
    const Value& t = e.value;
    if (!t.is_object() || !t.contains("target") || !t["target"].is_string() || !t.contains("upstream")) continue;
    std::string target = t["target"].get<std::string>();
    if (target.empty()) continue;  // already refused by the schema
    bool has_port = target[0] == '[' ? target.find("]:") != std::string::npos : target.find(':') != std::string::npos;
    if (!has_port) target += ":8000";
    std::string upstream = t["upstream"].is_object() ? show(t["upstream"].value("id", Value(""))) : "";
    if (!seen.insert({upstream, target}).second) {
      std::string name = upstream;
      if (auto u = find("upstreams", Value(upstream))) name = show(entities_["upstreams"][*u].value["name"]);
      problem("target", e.label, {PathPart{"target"}}, "duplicate target '" + e.label + "' in upstream '" + name + "'");
    }
  }
}

// Kong: at most one filter chain per service and one per route.
void Normalizer::check_filter_chains() {
  std::set<std::string> seen;
  for (const auto& e : entities_["filter_chains"]) {
    for (const char* field : {"service", "route"}) {
      const Value& c = e.value;
      if (!c.is_object() || !c.contains(field) || !c[field].is_object()) continue;
      if (!seen.insert(std::string(field) + show(c[field].value("id", Value("")))).second) {
        problem("filter_chain", e.label, {PathPart{field}}, "already has a filter chain");
      }
    }
  }
}

// ---- basic-auth and hmac-auth credentials ------------------------------

// Kong's `_transform` (default true): whether write-time transformations
// run on load. A file Kong exported says false: its passwords are hashed.
void Normalizer::read_transform(const Value& root) {
  auto it = root.find("_transform");
  if (it == root.end() || it->is_null()) return;
  if (!it->is_boolean()) {
    problem("config", "root", {PathPart{"_transform"}}, "expected a boolean");
    return;
  }
  transform_ = it->get<bool>();
}

// Kong hashes a basic-auth password when it is written, salted with its
// consumer's id (known once references are resolved): the clear text is
// dropped here, so neither the running config nor `check --dump` has it.
void Normalizer::hash_basicauth_passwords() {
  if (!transform_) return;
  for (auto& e : entities_["basicauth_credentials"]) {
    Value& v = e.value;
    if (!v.is_object() || !v.contains("password") || !v["password"].is_string()) continue;
    auto consumer = v.find("consumer");
    if (consumer == v.end() || !consumer->is_object() || !consumer->value("id", Value()).is_string()) continue;
    v["password"] = basicauth_password_hash((*consumer)["id"].get<std::string>(), v["password"].get<std::string>());
  }
}

// Kong's hmac-auth secret is generated when a credential has none.
void Normalizer::fill_hmacauth_secrets() {
  for (auto& e : entities_["hmacauth_credentials"]) {
    Value& v = e.value;
    if (v.is_object() && (!v.contains("secret") || v["secret"].is_null())) v["secret"] = random_secret();
  }
}

Normalized Normalizer::run(Value root) {
  if (!root.is_object()) {
    problem("config", "root", {}, "expected a mapping with _format_version, services, routes, ...");
    return std::move(out_);
  }
  top_level(root);
  read_transform(root);
  for (const Schema* s : entity_schemas()) {
    resolve(*s);
    assign_ids(*s);
    check_unique(*s);
  }
  check_targets();
  check_filter_chains();
  hash_basicauth_passwords();
  fill_hmacauth_secrets();
  out_.config = Value::object();
  out_.config["_format_version"] = "3.0";
  for (const Schema* s : entity_schemas()) {
    Value list = Value::array();
    for (auto& e : entities_[s->name]) list.push_back(std::move(e.value));
    out_.config[s->name] = std::move(list);
  }
  // Its passwords are hashed now: loading it again must not hash them twice
  // (Kong's exports say the same).
  if (!out_.config["basicauth_credentials"].empty()) out_.config["_transform"] = false;
  return std::move(out_);
}

}  // namespace

Normalized normalize(Value root) { return Normalizer().run(std::move(root)); }

}  // namespace wg::config

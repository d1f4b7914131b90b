#include "admin/kong_api.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "admin/endpoints.h"
#include "admin/entity_writes.h"
#include "config/entity_schemas.h"
#include "config/errors.h"
#include "config/schema.h"

namespace wg::admin {
namespace {

using config::Value;

// ---- answers ---------------------------------------------------------------------

Response message(int status, const std::string& text) {
  Value v = Value::object();
  v["message"] = text;
  return json(status, v);
}

Response not_found() { return message(404, "Not found"); }

Response method_not_allowed() { return message(405, "Method not allowed"); }

// Kong's DB-less answer to a write on an entity endpoint.
Response unsupported(const std::string& method, const char* entity) {
  std::string verb = method == "POST"    ? "create"
                     : method == "PUT"   ? "upsert"
                     : method == "PATCH" ? "update"
                                         : "delete";
  Value v = Value::object();
  v["code"] = 12;
  v["name"] = "operation unsupported";
  v["message"] = "cannot " + verb + " '" + entity + "' entities when not using a database";
  return json(405, v);
}

bool is_write(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// ---- query strings ---------------------------------------------------------------

std::string query_param(const std::string& query, std::string_view name) {
  std::string_view q = query;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      std::string v(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      for (auto& c : v) c = c == '+' ? ' ' : c;
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && isxdigit(static_cast<unsigned char>(v[i + 1])) &&
            isxdigit(static_cast<unsigned char>(v[i + 2]))) {
          out.push_back(static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16)));
          i += 2;
        } else {
          out.push_back(v[i]);
        }
      }
      return out;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return "";
}

// ---- pages -------------------------------------------------------------------------

// An offset is opaque to clients (Kong's are base64 too): here, the index.
std::string encode_offset(size_t index) {
  std::string raw = std::to_string(index);
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool decode_offset(const std::string& token, size_t* index) {
  if (token.empty() || token.size() % 4 != 0 || token.size() > 32) return false;
  std::string raw(token.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(token.data()), static_cast<int>(token.size()));
  if (n <= 0) return false;
  raw.resize(static_cast<size_t>(n));
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();  // padding
  if (raw.empty() || raw.find_first_not_of("0123456789") != std::string::npos || raw.size() > 18) return false;
  *index = std::stoull(raw);
  return true;
}

Value error_object(int code, const char* name, const std::string& text) {
  Value v = Value::object();
  v["code"] = code;
  v["name"] = name;
  v["message"] = text;
  return v;
}

// Kong's tags filter: "a,b" all of them, "a/b" any of them.
bool tags_match(const Value& entity, const std::vector<std::string>& wanted, bool any) {
  auto t = entity.find("tags");
  if (t == entity.end() || !t->is_array()) return false;
  auto has = [&](const std::string& tag) { return std::find(t->begin(), t->end(), Value(tag)) != t->end(); };
  return any ? std::any_of(wanted.begin(), wanted.end(), has) : std::all_of(wanted.begin(), wanted.end(), has);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// One page of `items` (those passing `keep`), as Kong pages: {"data": [...],
// "next": null} or with "offset" and "next" when more follow.
Response page(const Request& req, const std::vector<const Value*>& all) {
  std::string size_text = query_param(req.query, "size");
  size_t size = 100;
  if (!size_text.empty()) {
    bool digits = size_text.size() <= 6 && size_text.find_first_not_of("0123456789") == std::string::npos;
    size = digits ? std::stoul(size_text) : 0;
    if (size < 1 || size > 1000) {
      return json(400, error_object(9, "invalid size", "size must be an integer between 1 and 1000"));
    }
  }
  size_t from = 0;
  std::string offset = query_param(req.query, "offset");
  if (!offset.empty() && (!decode_offset(offset, &from) || from > all.size())) {
    return json(400, error_object(7, "invalid offset", "'" + offset + "' is not a valid offset: bad base64 encoding"));
  }
  std::string tags = query_param(req.query, "tags");
  std::vector<const Value*> kept;
  if (!tags.empty()) {
    bool any = tags.find('/') != std::string::npos, every = tags.find(',') != std::string::npos;
    if (any && every) return json(400, error_object(11, "invalid options", "invalid option (tags: invalid filter syntax)"));
    std::vector<std::string> wanted = split(tags, any ? '/' : ',');
    for (const Value* v : all) {
      if (tags_match(*v, wanted, any)) kept.push_back(v);
    }
  }
  const std::vector<const Value*>& items = tags.empty() ? all : kept;
  Value out = Value::object();
  out["data"] = Value::array();
  for (size_t i = from; i < items.size() && i < from + size; ++i) out["data"].push_back(*items[i]);
  if (from + size < items.size()) {
    std::string token = encode_offset(from + size);
    out["offset"] = token;
    std::string next = req.path + "?offset=" + token;
    if (!size_text.empty()) next += "&size=" + size_text;
    if (!tags.empty()) next += "&tags=" + tags;
    out["next"] = next;
  } else {
    out["next"] = nullptr;
  }
  return json(200, out);
}

// ---- POST /config --------------------------------------------------------------

// The `config` part of a multipart/form-data body (curl -F config=@kong.yml).
bool multipart_field(const std::string& body, const std::string& content_type, const std::string& name,
                     std::string* out) {
  size_t b = content_type.find("boundary=");
  if (b == std::string::npos) return false;
  std::string boundary = content_type.substr(b + 9);
  if (!boundary.empty() && boundary.front() == '"') boundary = boundary.substr(1, boundary.find('"', 1) - 1);
  boundary = boundary.substr(0, boundary.find(';'));
  const std::string delimiter = "--" + boundary;
  for (size_t at = body.find(delimiter); at != std::string::npos;) {
    size_t head = at + delimiter.size();
    size_t head_end = body.find("\r\n\r\n", head);
    if (head_end == std::string::npos) return false;
    std::string part_head = body.substr(head, head_end - head);
    size_t next = body.find("\r\n" + delimiter, head_end);
    if (next == std::string::npos) return false;
    if (part_head.find("name=\"" + name + "\"") != std::string::npos) {
      *out = body.substr(head_end + 4, next - head_end - 4);
      return true;
    }
    at = next + 2;
  }
  return false;
}

// Kong's hydrate_config_from_request: the declarative text a POST /config
// carries, whichever way it came.
bool config_text(const Request& req, std::string* text) {
  const std::string* type = req.header("Content-Type");
  std::string t = type != nullptr ? *type : "";
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.find("multipart/form-data") != std::string::npos) return multipart_field(req.body, *type, "config", text);
  if (t.find("application/x-www-form-urlencoded") != std::string::npos) {
    *text = query_param(req.body, "config");
    return !text->empty();
  }
  if (t.find("application/json") != std::string::npos) {
    Value v = Value::parse(req.body, nullptr, false);
    if (v.is_object() && !v.contains("_format_version") && v.contains("config") && v["config"].is_string()) {
      *text = v["config"].get<std::string>();
      return true;
    }
  }
  *text = req.body;
  return !text->empty();
}

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "on" || v == "yes"; }

// Kong answers a loaded config with its entities, each list keyed by id.
Value entities_by_id(const Value& all) {
  Value out = Value::object();
  for (const auto& [name, list] : all.items()) {
    if (!list.is_array()) continue;
    Value m = Value::object();
    for (const auto& e : list) m[e.value("id", "")] = e;
    out[name] = std::move(m);
  }
  return out;
}

Response post_config(const KongApi& api, const Request& req) {
  std::string text;
  if (!config_text(req, &text)) return message(400, "expected a declarative configuration");
  if (query_param(req.query, "check_hash") == "1") {
    // Kong's check_hash: an unchanged config is not loaded again.
    Value parsed;
    std::string parse_error;
    config::Normalized trial;
    if (config::parse_value(text, parsed, &parse_error)) trial = config::normalize(std::move(parsed));
    if (parse_error.empty() && trial.problems.empty() &&
        configuration_hash(trial.config) == configuration_hash(*api.entities())) {
      Response r;
      r.status = 304;
      return r;
    }
  }
  config::Normalized refused;
  std::vector<std::string> errors;
  if (!api.apply(text, &refused, &errors)) {
    Value err = config::invalid_declarative(refused.problems);
    if (refused.problems.empty()) {
      // Refused after the entities passed (a filter, a plugin's build):
      // the problem lines say why.
      std::string joined;
      for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
      err["message"] = "declarative config is invalid: " + joined;
    }
    if (!truthy(query_param(req.query, "flatten_errors"))) err.erase("flattened_errors");
    return json(400, err);
  }
  return json(201, entities_by_id(*api.entities()));
}

// ---- the node ---------------------------------------------------------------------

std::string hostname() {
  char name[256] = {0};
  return gethostname(name, sizeof name - 1) == 0 ? std::string(name) : std::string();
}

Response root(const KongApi& api) {
  Value v = Value::object();
  v["tagline"] = "Welcome to wasmgate";
  v["version"] = api.version;
  v["node_id"] = api.node_id;
  v["hostname"] = hostname();
  Value available = Value::object();
  for (const auto& [name, priority] : api.plugins_available) {
    available[name] = Value{{"priority", priority}, {"version", api.version}};
  }
  std::set<std::string> enabled;
  for (const auto& p : list_of(*api.entities(), "plugins")) enabled.insert(p.value("name", ""));
  v["plugins"] = Value{{"available_on_server", available}, {"enabled_in_cluster", Value(enabled)}};
  v["configuration"] = Value{{"database", api.store != nullptr ? "sqlite" : "off"},
                             {"proxy_listen", Value::array({api.proxy_listen})},
                             {"admin_listen", Value::array({api.admin_listen})}};
  return json(200, v);
}

// ---- the entity routes ----------------------------------------------------------

std::vector<const Value*> all_of(const Value& all, const Endpoint& e) {
  std::vector<const Value*> out;
  for (const auto& v : list_of(all, e.entity)) out.push_back(&v);
  return out;
}

std::vector<const Value*> children_of(const Value& all, const Endpoint& child, const char* foreign,
                                      const std::string& parent_id) {
  std::vector<const Value*> out;
  for (const auto& v : list_of(all, child.entity)) {
    if (ref_id(v, foreign) == parent_id) out.push_back(&v);
  }
  return out;
}

WriteContext write_context(const KongApi& api) { return WriteContext{api.store, api.changed, api.check_build}; }

Response collection(const KongApi& api, const Request& req) {
  const Endpoint* e = endpoint(req.params.at("entity"));
  if (e == nullptr || std::string_view(e->path) == "targets") return not_found();
  if (is_write(req.method)) {
    if (api.store == nullptr) return unsupported(req.method, e->entity);
    return write_entity(write_context(api), req, *e, nullptr, nullptr);
  }
  return page(req, all_of(*api.entities(), *e));
}

Response item(const KongApi& api, const Request& req) {
  const Endpoint* e = endpoint(req.params.at("entity"));
  if (e == nullptr || std::string_view(e->path) == "targets") return not_found();
  if (is_write(req.method)) {
    if (api.store == nullptr) return unsupported(req.method, e->entity);
    return write_entity(write_context(api), req, *e, &req.params.at("id"), nullptr);
  }
  auto all = api.entities();
  const Value* v = find(*all, *e, req.params.at("id"));
  return v != nullptr ? json(200, *v) : not_found();
}

// Kong's foreign entity endpoints (/routes/{r}/service, /plugins/{p}/consumer,
// ...): the entity a reference names, read (GET), changed (PATCH),
// replaced or, when the reference is unset, created and referenced (PUT);
// DELETE is refused (405) while the reference is set.
Response foreign_entity(const KongApi& api, const Request& req, const Endpoint& owner, const Value* entity,
                        const std::string& field, const Endpoint& target) {
  if (is_write(req.method) && api.store == nullptr) return unsupported(req.method, target.entity);
  if (req.method == "POST") return method_not_allowed();
  if (entity == nullptr) return not_found();
  const std::string target_id = ref_id(*entity, field.c_str());
  if (req.method == "GET") {
    const Value* t = find(*api.entities(), target, target_id);
    return t != nullptr ? json(200, *t) : not_found();
  }
  if (target_id.empty() && req.method != "PUT") return not_found();
  if (req.method == "DELETE") return method_not_allowed();
  if (!target_id.empty()) return write_entity(write_context(api), req, target, &target_id, nullptr);
  Request create = req;
  create.method = "POST";
  Response made = write_entity(write_context(api), create, target, nullptr, nullptr);
  if (made.status != 201) return made;
  Request refer;
  refer.method = "PATCH";
  refer.headers = {{"Content-Type", "application/json"}};
  refer.body = config::to_json(Value{{field, Value{{"id", Value::parse(made.body)["id"]}}}});
  const std::string owner_id = entity->value("id", "");
  Response referred = write_entity(write_context(api), refer, owner, &owner_id, nullptr);
  if (referred.status != 200) return referred;
  made.status = 200;
  return made;
}

Response child_collection(const KongApi& api, const Request& req) {
  const std::string& parent_path = req.params.at("entity");
  const std::string& child_path = req.params.at("child");
  const Endpoint* parent = endpoint(parent_path);
  if (parent == nullptr) return not_found();
  auto all = api.entities();
  const Value* p = find(*all, *parent, req.params.at("id"));
  if (const Endpoint* target = foreign_endpoint(*parent, child_path)) {
    return foreign_entity(api, req, *parent, p, child_path, *target);
  }
  const Nested* n = nested(parent_path, child_path);
  if (n == nullptr) return not_found();
  const Endpoint* child = endpoint(n->endpoint);
  if (is_write(req.method) && api.store == nullptr) return unsupported(req.method, child->entity);
  if (p == nullptr) return not_found();
  if (is_write(req.method)) {
    Scope scope{n->foreign, p->value("id", "")};
    return write_entity(write_context(api), req, *child, nullptr, &scope);
  }
  return page(req, children_of(*all, *child, n->foreign, p->value("id", "")));
}

Response child_item(const KongApi& api, const Request& req) {
  const Endpoint* parent = endpoint(req.params.at("entity"));
  const Nested* n = nested(req.params.at("entity"), req.params.at("child"));
  if (parent == nullptr || n == nullptr) return not_found();
  const Endpoint* child = endpoint(n->endpoint);
  if (is_write(req.method) && api.store == nullptr) return unsupported(req.method, child->entity);
  auto all = api.entities();
  const Value* p = find(*all, *parent, req.params.at("id"));
  if (is_write(req.method)) {
    if (p == nullptr) return not_found();
    Scope scope{n->foreign, p->value("id", "")};
    return write_entity(write_context(api), req, *child, &req.params.at("child_id"), &scope);
  }
  const Value* c = find(*all, *child, req.params.at("child_id"));
  if (p == nullptr || c == nullptr || ref_id(*c, n->foreign) != p->value("id", "")) return not_found();
  return json(200, *c);
}

// ---- /schemas/.../validate ------------------------------------------------------

// A JSON object body, or null after answering why not.
bool json_body(const Request& req, Value* out, Response* refusal) {
  *out = Value::parse(req.body, nullptr, false);
  if (out->is_object()) return true;
  *refusal = message(400, "Cannot parse JSON body");
  return false;
}

Response validated(const std::vector<config::FieldError>& errors) {
  if (!errors.empty()) return json(400, config::schema_violation(errors));
  return message(200, "schema validation successful");
}

// GET /schemas/plugins/{name}: the plugins entity with that plugin's config.
Response plugin_schema_json(const Request& req) {
  if (req.method != "GET") return method_not_allowed();
  const config::PluginSchema* plugin = config::plugin_schema(req.params.at("name"));
  if (plugin == nullptr) return message(404, "No plugin named '" + req.params.at("name") + "'");
  return json(200, config::schema::kong_json(*config::entity_schema("plugins"), plugin->config));
}

// A plugin's name and config, checked by the plugin's own schema.
Response validate_plugin_config(Value& body) {
  std::string name = body.value("name", "");
  const config::PluginSchema* plugin = config::plugin_schema(name);
  if (plugin == nullptr) {
    Value fields = Value::object();
    fields["name"] = "plugin '" + name + "' not enabled; add it to the 'plugins' configuration property";
    Value err = error_object(2, "schema violation", "schema violation (name: " + fields["name"].get<std::string>() + ")");
    err["fields"] = fields;
    return json(400, err);
  }
  if (!body.contains("config") || body["config"].is_null()) body["config"] = Value::object();
  std::vector<std::string> path = {"config"};
  std::vector<config::FieldError> errors;
  config::schema::validate_field(plugin->config, body["config"], path, errors);
  return validated(errors);
}

// POST /schemas/{entity}/validate: the entity checked by its schema, as a
// create would (nothing is stored).
Response validate_entity(const Request& req) {
  if (req.method != "POST") return method_not_allowed();
  const config::schema::Schema* schema = config::entity_schema(req.params.at("entity"));
  if (schema == nullptr) return message(404, "No entity named '" + req.params.at("entity") + "'");
  Value body;
  Response refusal;
  const std::string* type = req.header("Content-Type");
  bool form = type != nullptr && (type->find("form") != std::string::npos);  // urlencoded or multipart
  if (!(form ? read_entity_body(req, *schema, &body, &refusal) : json_body(req, &body, &refusal))) return refusal;
  std::vector<config::FieldError> errors;
  config::schema::validate(*schema, body, errors);
  if (schema->name == "plugins" && errors.empty()) return validate_plugin_config(body);
  return validated(errors);
}


}  // namespace

std::string configuration_hash(const config::Value& entities) {
  std::string text = config::to_json(entities);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

void install_kong_api(AdminServer& server, KongApi api_in) {
  auto api = std::make_shared<const KongApi>(std::move(api_in));
  server.add_api_route("/", [api](const Request& r) { return r.method == "GET" ? root(*api) : method_not_allowed(); });
  server.add_route("/status", [api](const Request&) {
    Value v = Value::object();
    v["database"] = Value{{"reachable", true}};
    v["configuration_hash"] = configuration_hash(*api->entities());
    if (api->generation) v["config_generation"] = api->generation();
    return json(200, v);
  });
  server.add_api_route("/config", [api](const Request& r) {
    if (api->store != nullptr && (r.method == "POST" || r.method == "GET")) {
      return message(400, "this endpoint is only available when Kong is configured to not use a database");
    }
    if (r.method == "POST") return post_config(*api, r);
    if (r.method != "GET") return method_not_allowed();
    Value v = Value::object();
    v["config"] = config::to_json(*api->entities());
    return json(200, v);
  });
  server.add_api_route("/endpoints", [](const Request& r) {
    if (r.method != "GET") return method_not_allowed();
    // Kong's GET /endpoints: every route the Admin API serves, sorted.
    std::set<std::string> all = {"/", "/status", "/config", "/endpoints", "/metrics", "/plugins/enabled",
                                 "/schemas/{db_entity_name}", "/schemas/{db_entity_name}/validate",
                                 "/schemas/plugins/{name}", "/schemas/plugins/validate", "/plugins/schema/{name}",
                                 // served by the runtime (runtime/*_admin.h)
                                 "/filters", "/schemas/filters/{name}", "/upstreams/{upstreams}/health",
                                 "/upstreams/{upstreams}/targets/{targets}/healthy",
                                 "/upstreams/{upstreams}/targets/{targets}/unhealthy",
                                 "/upstreams/{upstreams}/targets/{targets}/{address}/healthy",
                                 "/upstreams/{upstreams}/targets/{targets}/{address}/unhealthy"};
    for (auto& p : entity_patterns()) all.insert(std::move(p));
    return json(200, Value{{"data", Value(all)}, {"next", nullptr}});
  });
  server.add_api_route("/plugins/enabled", [api](const Request& r) {
    if (r.method != "GET") return method_not_allowed();
    std::set<std::string> names;
    for (const auto& [name, priority] : api->plugins_available) names.insert(name);
    return json(200, Value{{"enabled_plugins", Value(names)}});
  });
  server.add_api_route("/schemas/{entity}/validate", [](const Request& r) { return validate_entity(r); });
  server.add_api_route("/schemas/plugins/{name}", [](const Request& r) { return plugin_schema_json(r); });
  server.add_api_route("/plugins/schema/{name}", [](const Request& r) { return plugin_schema_json(r); });
  server.add_api_route("/schemas/{entity}", [](const Request& r) {
    if (r.method != "GET") return method_not_allowed();
    const config::schema::Schema* schema = config::entity_schema(r.params.at("entity"));
    if (schema == nullptr) return message(404, "No entity named '" + r.params.at("entity") + "'");
    return json(200, config::schema::kong_json(*schema));
  });
  server.add_api_route("/{entity}", [api](const Request& r) { return collection(*api, r); });
  server.add_api_route("/{entity}/{id}", [api](const Request& r) { return item(*api, r); });
  server.add_api_route("/{entity}/{id}/{child}", [api](const Request& r) { return child_collection(*api, r); });
  server.add_api_route("/{entity}/{id}/{child}/{child_id}",
                       [api](const Request& r) { return child_item(*api, r); });
}

Response json(int status, const Value& body) {
  Response r;
  r.status = status;
  r.body = config::to_json(body);
  return r;
}

}  // namespace wg::admin

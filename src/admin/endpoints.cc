#include "admin/endpoints.h"

#include "config/entity_schemas.h"
#include "config/schema.h"

namespace wg::admin {

using config::Value;

namespace {

const std::vector<Endpoint> kEndpoints = {
    {"services", "services", {"name"}},
    {"routes", "routes", {"name"}},
    {"upstreams", "upstreams", {"name"}},
    {"targets", "targets", {"target"}},
    {"consumers", "consumers", {"username", "custom_id"}},
    {"plugins", "plugins", {}},
    {"filter-chains", "filter_chains", {"name"}},
    {"key-auths", "keyauth_credentials", {"key"}},
    {"basic-auths", "basicauth_credentials", {"username"}},
    {"jwts", "jwt_secrets", {"key"}},
    {"hmac-auths", "hmacauth_credentials", {"username"}},
    {"acls", "acls", {}},
    // Served once their schemas exist (the TLS entities).
    {"certificates", "certificates", {}},
    {"snis", "snis", {"name"}},
    {"ca_certificates", "ca_certificates", {}},
};

const Nested kNested[] = {
    {"services", "routes", "routes", "service"},
    {"services", "plugins", "plugins", "service"},
    {"services", "filter-chains", "filter-chains", "service"},
    {"routes", "plugins", "plugins", "route"},
    {"routes", "filter-chains", "filter-chains", "route"},
    {"consumers", "plugins", "plugins", "consumer"},
    {"consumers", "key-auth", "key-auths", "consumer"},
    {"consumers", "basic-auth", "basic-auths", "consumer"},
    {"consumers", "jwt", "jwts", "consumer"},
    {"consumers", "hmac-auth", "hmac-auths", "consumer"},
    {"consumers", "acls", "acls", "consumer"},
    {"upstreams", "targets", "targets", "upstream"},
    {"certificates", "snis", "snis", "certificate"},
};

}  // namespace

const Endpoint* endpoint(std::string_view path) {
  for (const auto& e : kEndpoints) {
    if (path == e.path) return config::entity_schema(e.entity) != nullptr ? &e : nullptr;
  }
  return nullptr;
}

const Endpoint* endpoint_of(std::string_view entity) {
  for (const auto& e : kEndpoints) {
    if (entity == e.entity) return endpoint(e.path);
  }
  return nullptr;
}

const Endpoint* foreign_endpoint(const Endpoint& e, std::string_view field) {
  const config::schema::Schema* schema = config::entity_schema(e.entity);
  if (schema == nullptr || std::string_view(e.path) == "targets") return nullptr;  // Kong disables /targets
  for (const auto& f : schema->fields) {
    if (f.name == field && f.type == config::schema::Type::Foreign && !f.unsupported) return endpoint_of(f.reference);
  }
  return nullptr;
}

std::vector<std::string> entity_patterns() {
  std::vector<std::string> out;
  for (const auto& e : kEndpoints) {
    if (std::string_view(e.path) == "targets" || endpoint(e.path) == nullptr) continue;
    out.push_back(std::string("/") + e.path);
    out.push_back(std::string("/") + e.path + "/{" + e.path + "}");
  }
  for (const auto& n : kNested) {
    if (endpoint(n.endpoint) == nullptr) continue;
    std::string parent = std::string("/") + n.parent + "/{" + n.parent + "}/" + n.child;
    out.push_back(parent);
    out.push_back(parent + "/{" + n.endpoint + "}");
  }
  for (const auto& e : kEndpoints) {
    const config::schema::Schema* schema = config::entity_schema(e.entity);
    if (schema == nullptr) continue;
    for (const auto& f : schema->fields) {
      if (foreign_endpoint(e, f.name) == nullptr) continue;
      out.push_back(std::string("/") + e.path + "/{" + e.path + "}/" + f.name);
    }
  }
  return out;
}

const Nested* nested(std::string_view parent, std::string_view child) {
  for (const auto& n : kNested) {
    if (parent == n.parent && child == n.child && endpoint(n.endpoint) != nullptr) return &n;
  }
  return nullptr;
}

const Value& list_of(const Value& all, const char* entity) {
  static const Value kEmpty = Value::array();
  auto it = all.find(entity);
  return it != all.end() && it->is_array() ? *it : kEmpty;
}

const Value* find(const Value& all, const Endpoint& e, const std::string& key) {
  for (const auto& v : list_of(all, e.entity)) {
    if (v.value("id", "") == key) return &v;
    for (const char* k : e.keys) {
      auto f = v.find(k);
      if (f != v.end() && f->is_string() && f->get_ref<const std::string&>() == key) return &v;
    }
  }
  return nullptr;
}

std::string ref_id(const Value& v, const char* field) {
  auto f = v.find(field);
  if (f == v.end() || !f->is_object()) return "";
  return f->value("id", "");
}

}  // namespace wg::admin

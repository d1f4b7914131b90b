#include "config/bind.h"

#include <unordered_map>

#include "http/message.h"

namespace wg::config {
namespace {

// A member of an object, or null (never throws or asserts: a record the
// user set to null has no members).
const Value& at(const Value& v, const char* key) {
  static const Value kNull;
  if (!v.is_object()) return kNull;
  auto it = v.find(key);
  return it == v.end() ? kNull : *it;
}

std::string str(const Value& e, const char* key, std::string dflt = "") {
  auto it = e.find(key);
  return it != e.end() && it->is_string() ? it->get<std::string>() : dflt;
}

template <typename T>
void get(const Value& e, const char* key, T& out) {
  auto it = e.find(key);
  if (it != e.end() && !it->is_null()) out = it->get<T>();
}

std::vector<std::string> strings(const Value& e, const char* key) {
  std::vector<std::string> out;
  auto it = e.find(key);
  if (it != e.end() && it->is_array()) {
    for (const auto& v : *it) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string ref_id(const Value& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() && it->is_object() ? str(*it, "id") : "";
}

// Records are complete after validation: every field has its default.
void bind_healthchecks(const Value& h, Healthchecks& hc) {
  const Value& a = at(h, "active");
  hc.active.type = str(a, "type", "http");
  hc.active.http_path = str(a, "http_path", "/");
  get(a, "timeout", hc.active.timeout_s);
  get(a, "concurrency", hc.active.concurrency);
  if (a.contains("headers") && at(a, "headers").is_object()) {
    for (auto it = at(a, "headers").begin(); it != at(a, "headers").end(); ++it) {
      hc.active.headers.push_back({it.key(), it.value().get<std::vector<std::string>>()});
    }
  }
  get(at(a, "healthy"), "interval", hc.active.healthy_interval_s);
  get(at(a, "healthy"), "http_statuses", hc.active.healthy_statuses);
  get(at(a, "healthy"), "successes", hc.active.healthy_successes);
  get(at(a, "unhealthy"), "interval", hc.active.unhealthy_interval_s);
  get(at(a, "unhealthy"), "http_statuses", hc.active.unhealthy_statuses);
  get(at(a, "unhealthy"), "tcp_failures", hc.active.unhealthy_tcp_failures);
  get(at(a, "unhealthy"), "timeouts", hc.active.unhealthy_timeouts);
  get(at(a, "unhealthy"), "http_failures", hc.active.unhealthy_http_failures);
  const Value& p = at(h, "passive");
  hc.passive.type = str(p, "type", "http");
  get(at(p, "healthy"), "http_statuses", hc.passive.healthy_statuses);
  get(at(p, "healthy"), "successes", hc.passive.healthy_successes);
  get(at(p, "unhealthy"), "http_statuses", hc.passive.unhealthy_statuses);
  get(at(p, "unhealthy"), "tcp_failures", hc.passive.unhealthy_tcp_failures);
  get(at(p, "unhealthy"), "timeouts", hc.passive.unhealthy_timeouts);
  get(at(p, "unhealthy"), "http_failures", hc.passive.unhealthy_http_failures);
  get(h, "threshold", hc.threshold);
}

Service bind_service(const Value& v) {
  Service s;
  s.id = str(v, "id");
  s.name = str(v, "name");
  s.protocol = str(v, "protocol", "http");
  s.host = str(v, "host");
  get(v, "port", s.port);
  s.path = str(v, "path");
  get(v, "retries", s.retries);
  get(v, "connect_timeout", s.connect_timeout_ms);
  get(v, "write_timeout", s.write_timeout_ms);
  get(v, "read_timeout", s.read_timeout_ms);
  get(v, "enabled", s.enabled);
  get(v, "tls_verify", s.tls_verify);
  get(v, "tls_verify_depth", s.tls_verify_depth);
  return s;
}

Route bind_route(const Value& v) {
  Route r;
  r.id = str(v, "id");
  r.name = str(v, "name");
  r.protocols = strings(v, "protocols");
  r.paths = strings(v, "paths");
  for (auto& h : strings(v, "hosts")) r.hosts.push_back(http::to_lower(h));
  r.methods = strings(v, "methods");
  if (v.contains("headers") && at(v, "headers").is_object()) {
    for (auto it = at(v, "headers").begin(); it != at(v, "headers").end(); ++it) {
      r.headers.push_back(HeaderMatcher{http::to_lower(it.key()), it.value().get<std::vector<std::string>>()});
    }
  }
  for (auto& sni : strings(v, "snis")) r.snis.push_back(http::to_lower(sni));
  get(v, "regex_priority", r.regex_priority);
  r.path_handling_v1 = str(v, "path_handling") == "v1";
  get(v, "https_redirect_status_code", r.https_redirect_status_code);
  get(v, "strip_path", r.strip_path);
  get(v, "preserve_host", r.preserve_host);
  get(v, "request_buffering", r.request_buffering);
  get(v, "response_buffering", r.response_buffering);
  r.tags = strings(v, "tags");
  return r;
}

Upstream bind_upstream(const Value& v) {
  Upstream u;
  u.id = str(v, "id");
  u.name = str(v, "name");
  u.algorithm = str(v, "algorithm", u.algorithm);
  u.hash_on = str(v, "hash_on", u.hash_on);
  u.hash_fallback = str(v, "hash_fallback", u.hash_fallback);
  u.hash_on_header = str(v, "hash_on_header");
  u.hash_fallback_header = str(v, "hash_fallback_header");
  u.hash_on_cookie = str(v, "hash_on_cookie");
  u.hash_on_cookie_path = str(v, "hash_on_cookie_path", "/");
  u.hash_on_query_arg = str(v, "hash_on_query_arg");
  u.hash_fallback_query_arg = str(v, "hash_fallback_query_arg");
  u.hash_on_uri_capture = str(v, "hash_on_uri_capture");
  u.hash_fallback_uri_capture = str(v, "hash_fallback_uri_capture");
  get(v, "slots", u.slots);
  u.host_header = str(v, "host_header");
  if (v.contains("healthchecks") && at(v, "healthchecks").is_object()) bind_healthchecks(at(v, "healthchecks"), u.healthchecks);
  u.tags = strings(v, "tags");
  return u;
}

// "host", "host:port", "[v6]" or "[v6]:port"; Kong's default port is 8000.
Target bind_target(const Value& v) {
  Target t;
  t.id = str(v, "id");
  std::string text = str(v, "target");
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    t.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) port = text.substr(close + 2);
  } else if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    t.host = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else {
    t.host = text;
  }
  if (!port.empty()) t.port = std::stoi(port);
  get(v, "weight", t.weight);
  t.tags = strings(v, "tags");
  return t;
}

FilterChain bind_chain(const Value& v) {
  FilterChain c;
  c.id = str(v, "id");
  c.name = str(v, "name");
  get(v, "enabled", c.enabled);
  for (const auto& f : at(v, "filters")) {
    FilterEntry entry;
    entry.name = str(f, "name");
    get(f, "enabled", entry.enabled);
    auto root_id = f.find("root_id");
    entry.has_root_id = root_id != f.end() && root_id->is_string();
    if (entry.has_root_id) entry.root_id = root_id->get<std::string>();
    // A string is passed as is; structured JSON is passed as JSON text.
    auto config = f.find("config");
    if (config != f.end() && !config->is_null()) entry.config = config->is_string() ? config->get<std::string>() : to_json(*config);
    c.filters.push_back(std::move(entry));
  }
  c.tags = strings(v, "tags");
  return c;
}

int index_of(const std::unordered_map<std::string, int>& by_id, const std::string& id) {
  auto it = by_id.find(id);
  return it == by_id.end() ? -1 : it->second;
}

// basic-auth and hmac-auth credentials, each tied to its consumer's index.
void bind_auth_credentials(const Value& n, const std::unordered_map<std::string, int>& consumers, Declarative& out) {
  for (const auto& v : at(n, "basicauth_credentials")) {
    out.basicauth_credentials.push_back(BasicauthCredential{str(v, "id"), index_of(consumers, ref_id(v, "consumer")),
                                                            str(v, "username"), str(v, "password")});
  }
  for (const auto& v : at(n, "hmacauth_credentials")) {
    out.hmacauth_credentials.push_back(HmacauthCredential{str(v, "id"), index_of(consumers, ref_id(v, "consumer")),
                                                          str(v, "username"), str(v, "secret")});
  }
}

}  // namespace

void bind_entities(const Value& n, Declarative& out) {
  std::unordered_map<std::string, int> services, routes, upstreams, certificates, ca_certificates;
  for (const auto& v : at(n, "certificates")) {
    certificates[str(v, "id")] = static_cast<int>(out.certificates.size());
    out.certificates.push_back(
        Certificate{str(v, "id"), str(v, "cert"), str(v, "key"), str(v, "cert_alt"), str(v, "key_alt")});
  }
  for (const auto& v : at(n, "snis")) {
    out.snis.push_back(Sni{str(v, "id"), http::to_lower(str(v, "name")), index_of(certificates, ref_id(v, "certificate"))});
  }
  for (const auto& v : at(n, "ca_certificates")) {
    ca_certificates[str(v, "id")] = static_cast<int>(out.ca_certificates.size());
    out.ca_certificates.push_back(CaCertificate{str(v, "id"), str(v, "cert")});
  }
  for (const auto& v : at(n, "services")) {
    services[str(v, "id")] = static_cast<int>(out.services.size());
    out.services.push_back(bind_service(v));
    Service& s = out.services.back();
    s.client_certificate = index_of(certificates, ref_id(v, "client_certificate"));
    for (const auto& ca : strings(v, "ca_certificates")) s.ca_certificates.push_back(index_of(ca_certificates, ca));
  }
  for (const auto& v : at(n, "routes")) {
    routes[str(v, "id")] = static_cast<int>(out.routes.size());
    Route r = bind_route(v);
    r.service = index_of(services, ref_id(v, "service"));
    out.routes.push_back(std::move(r));
  }
  for (const auto& v : at(n, "upstreams")) {
    upstreams[str(v, "id")] = static_cast<int>(out.upstreams.size());
    out.upstreams.push_back(bind_upstream(v));
  }
  for (const auto& v : at(n, "targets")) {
    int u = index_of(upstreams, ref_id(v, "upstream"));
    if (u >= 0) out.upstreams[static_cast<size_t>(u)].targets.push_back(bind_target(v));
  }
  std::unordered_map<std::string, int> consumers;
  for (const auto& v : at(n, "consumers")) {
    consumers[str(v, "id")] = static_cast<int>(out.consumers.size());
    out.consumers.push_back(Consumer{str(v, "id"), str(v, "username"), str(v, "custom_id"), strings(v, "tags")});
  }
  for (const auto& v : at(n, "keyauth_credentials")) {
    KeyauthCredential k{str(v, "id"), index_of(consumers, ref_id(v, "consumer")), str(v, "key"), 0};
    get(v, "ttl", k.ttl);
    out.keyauth_credentials.push_back(std::move(k));
  }
  for (const auto& v : at(n, "acls")) {
    out.acls.push_back(Acl{str(v, "id"), index_of(consumers, ref_id(v, "consumer")), str(v, "group")});
  }
  bind_auth_credentials(n, consumers, out);
  for (const auto& v : at(n, "jwt_secrets")) {
    out.jwt_secrets.push_back(JwtSecret{str(v, "id"), index_of(consumers, ref_id(v, "consumer")), str(v, "key"),
                                        str(v, "secret"), str(v, "rsa_public_key"), str(v, "algorithm"),
                                        strings(v, "tags")});
  }
  for (const auto& v : at(n, "plugins")) {
    PluginInstance p;
    p.id = str(v, "id");
    p.name = str(v, "name");
    p.instance_name = str(v, "instance_name");
    p.config_json = to_json(v.value("config", Value::object()));
    get(v, "enabled", p.enabled);
    p.protocols = strings(v, "protocols");
    p.service = index_of(services, ref_id(v, "service"));
    p.route = index_of(routes, ref_id(v, "route"));
    p.consumer = ref_id(v, "consumer");
    p.tags = strings(v, "tags");
    out.plugins.push_back(std::move(p));
  }
  for (const auto& v : at(n, "filter_chains")) {
    FilterChain c = bind_chain(v);
    c.service = index_of(services, ref_id(v, "service"));
    c.route = index_of(routes, ref_id(v, "route"));
    out.filter_chains.push_back(std::move(c));
  }
}

}  // namespace wg::config

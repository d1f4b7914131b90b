#include "config/entity_schemas.h"

#include <algorithm>
#include <map>
#include <set>

#include "config/pem_key.h"
#include "config/typedefs.h"
#include "http/message.h"
#include "router/regex.h"
#include "tls/server.h"

namespace wg::config {
namespace {

using schema::EntityCheck;
using schema::Field;
using schema::Schema;
using schema::Type;
using Found = std::vector<std::pair<std::string, std::string>>;
using Reason = std::optional<std::string>;

Field str(std::string n) { return Field(std::move(n), Type::String); }
Field integer(std::string n) { return Field(std::move(n), Type::Integer); }
Field number(std::string n) { return Field(std::move(n), Type::Number); }
Field boolean(std::string n, bool dflt) { return Field(std::move(n), Type::Boolean).def(dflt); }
Field strings(std::string n) { return Field(std::move(n), Type::Array).of(str("")); }
Field record(std::string n, std::vector<Field> fields) { return Field(std::move(n), Type::Record).with(std::move(fields)); }

std::vector<Value> values(std::initializer_list<Value> v) { return v; }

// Every entity starts with Kong's id and timestamps (seconds; targets keep
// milliseconds, as fractions).
Schema entity(std::string name, std::string singular, std::string endpoint_key, std::vector<Field> fields,
              Type timestamps = Type::Integer) {
  Schema s;
  s.name = std::move(name);
  s.singular = std::move(singular);
  s.endpoint_key = std::move(endpoint_key);
  s.fields = {typedefs::id(), typedefs::timestamp("created_at"), typedefs::timestamp("updated_at")};
  s.fields[1].type = s.fields[2].type = timestamps;
  s.fields.insert(s.fields.end(), fields.begin(), fields.end());
  return s;
}

schema::Match equals(Value v) {
  schema::Match m;
  m.one_of = {std::move(v)};
  return m;
}
schema::Match required() {
  schema::Match m;
  m.required = true;
  return m;
}
schema::Match any_of(std::vector<Value> v) {
  schema::Match m;
  m.one_of = std::move(v);
  return m;
}

EntityCheck conditional(std::string if_field, schema::Match if_match, std::string then_field,
                        schema::Match then_match) {
  EntityCheck c;
  c.kind = EntityCheck::Kind::Conditional;
  c.if_field = std::move(if_field);
  c.if_match = std::move(if_match);
  c.then_field = std::move(then_field);
  c.then_match = std::move(then_match);
  return c;
}

EntityCheck distinct(std::vector<std::string> fields) {
  EntityCheck c;
  c.kind = EntityCheck::Kind::Distinct;
  c.fields = std::move(fields);
  return c;
}

bool has(const Value& e, const char* key) {
  auto it = e.find(key);
  return it != e.end() && !it->is_null() && !(it->is_array() && it->empty()) && !(it->is_object() && it->empty());
}

bool list_contains(const Value& e, const char* key, const char* item) {
  auto it = e.find(key);
  if (it == e.end() || !it->is_array()) return false;
  return std::find(it->begin(), it->end(), Value(item)) != it->end();
}

// ---- services ---------------------------------------------------------

// Kong's `url` shorthand: protocol, host, port and path in one string.
void expand_url(Value& s, Found& errors) {
  Value url = s["url"];
  s.erase("url");
  if (s.contains("host")) {
    errors.push_back({"url", "cannot be set together with 'host'"});
    return;
  }
  if (!url.is_string()) {
    errors.push_back({"url", "expected a string"});
    return;
  }
  const std::string& u = url.get_ref<const std::string&>();
  size_t scheme_end = u.find("://");
  if (scheme_end == std::string::npos) {
    errors.push_back({"url", "missing scheme"});
    return;
  }
  std::string protocol = http::to_lower(u.substr(0, scheme_end));
  std::string rest = u.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  size_t colon = authority.rfind(':');
  // "[v6]" has colons inside the brackets: only one after "]" is a port.
  size_t bracket = authority.find(']');
  if (bracket != std::string::npos && (colon == std::string::npos || colon < bracket)) colon = std::string::npos;
  int port = protocol == "https" ? 443 : 80;
  std::string host = authority;
  if (colon != std::string::npos) {
    host = authority.substr(0, colon);
    std::string p = authority.substr(colon + 1);
    if (p.empty() || p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 || std::stoi(p) > 65535) {
      errors.push_back({"url", "invalid port '" + p + "'"});
      return;
    }
    port = std::stoi(p);
  }
  if (host.empty()) {
    errors.push_back({"url", "missing host"});
    return;
  }
  s["protocol"] = protocol;
  s["host"] = host;
  s["port"] = port;
  if (slash != std::string::npos) s["path"] = rest.substr(slash);
}

Field uuid_element() {
  Field f("", Type::String);
  f.uuid = true;
  return f;
}

Schema services() {
  Field protocol = str("protocol").req().def("http").check([](const Value& v) -> Reason {
    const auto& p = v.get_ref<const std::string&>();
    if (p != "http" && p != "https") return "protocol '" + p + "' is not supported yet";
    return {};
  });
  for (const auto& p : typedefs::kong_protocols()) protocol.one_of.push_back(p);
  Schema s = entity("services", "service", "name", {
      typedefs::utf8_name(),
      integer("retries").def(5).range(0, 32767),
      protocol,
      typedefs::host("host").req(),
      typedefs::port("port").req().def(80),
      typedefs::path("path"),
      typedefs::timeout("connect_timeout"),
      typedefs::timeout("write_timeout"),
      typedefs::timeout("read_timeout"),
      typedefs::tags(),
      typedefs::foreign("client_certificate", "certificates"),
      Field("tls_verify", Type::Boolean),
      integer("tls_verify_depth").range(0, 64),
      Field("ca_certificates", Type::Array).of(uuid_element()),
      boolean("enabled", true),
  });
  s.shorthands = {{"url", expand_url}};
  s.nested = {"routes", "plugins", "filter_chains"};
  return s;
}

// ---- routes -----------------------------------------------------------

Reason check_route_path(const Value& v) {
  const auto& p = v.get_ref<const std::string&>();
  if (p.find("//") != std::string::npos) return "must not have empty segments";
  if (p.rfind("~/", 0) == 0) {
    std::string err;
    if (!router::Regex::compile(std::string_view(p).substr(1), true, false, &err)) {
      return "invalid regex: '" + p.substr(1) + "' (PCRE returned: " + err + ")";
    }
    return {};
  }
  if (p[0] != '/') return "should start with: / (fixed path) or ~/ (regex path)";
  return {};
}

// Kong's hosts typedef: at most one wildcard, as the whole leftmost or
// rightmost label, the rest a hostname or address with an optional port.
Reason check_route_host(const Value& v) {
  const std::string& h = v.get_ref<const std::string&>();
  size_t stars = std::count(h.begin(), h.end(), '*');
  if (stars > 1) return "invalid wildcard: must have at most one wildcard";
  if (stars == 1) {
    bool leading = h.rfind("*.", 0) == 0;
    bool trailing = h.size() >= 2 && h.compare(h.size() - 2, 2, ".*") == 0;
    if (!leading && !trailing) return "invalid wildcard: must be placed at leftmost or rightmost label";
  }
  for (char c : http::to_lower(h)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '*' || c == ':' ||
              c == '_' || c == '[' || c == ']';
    if (!ok) return "invalid hostname: " + h;
  }
  return {};
}

Reason check_method(const Value& v) {
  const auto& m = v.get_ref<const std::string&>();
  if (m.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) return "invalid value: " + m;
  return {};
}

Reason check_header_value(const Value& v) {
  const auto& s = v.get_ref<const std::string&>();
  std::string err;
  if (s.rfind("~*", 0) == 0 && !router::Regex::compile(std::string_view(s).substr(2), false, true, &err)) return err;
  return {};
}

Reason check_route_headers(const Value& v) {
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (http::iequals(it.key(), "host")) {
      return "cannot contain 'host' header, which must be specified in the 'hosts' attribute";
    }
  }
  return {};
}

Field stream_endpoints(std::string name) {
  return Field(std::move(name), Type::Set).of(record("", {str("ip"), typedefs::port("port")}));
}

// Kong's route checks for http/https routes (the "http" subschema).
void check_route(const Value& r, Found& out) {
  bool http = list_contains(r, "protocols", "http");
  bool https = list_contains(r, "protocols", "https");
  if (has(r, "snis") && !https) {
    out.push_back({"", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"});
    out.push_back({"snis", "length must be 0"});
    return;
  }
  for (const char* f : {"sources", "destinations"}) {
    if (has(r, f)) out.push_back({f, std::string("cannot set '") + f + "' when 'protocols' is 'http' or 'https'"});
  }
  bool any = has(r, "methods") || has(r, "hosts") || has(r, "headers") || has(r, "paths");
  if (https && !any && !has(r, "snis")) {
    out.push_back({"", "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"});
  } else if (http && !https && !any) {
    out.push_back({"", "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"});
  }
}

Reason expressions_unsupported(const Value&) { return "the expressions router flavor is not supported"; }

Schema routes() {
  EntityCheck checks;
  checks.fields = {"protocols", "snis", "sources", "destinations", "methods", "hosts", "headers", "paths"};
  checks.custom = check_route;
  Schema s = entity("routes", "route", "name", {
      typedefs::utf8_name(),
      typedefs::protocol_list("protocols").req().def(Value::array({"http", "https"})),
      Field("methods", Type::Set).of(str("").check(check_method)),
      Field("hosts", Type::Array).of(str("").check(check_route_host)),
      Field("paths", Type::Array).of(str("").check(check_route_path)),
      Field("headers", Type::Map)
          .map_of(str(""), Field("", Type::Array).min_len(1).of(str("").check(check_header_value)))
          .check(check_route_headers),
      integer("https_redirect_status_code").req().def(426).choices(values({426, 301, 302, 307, 308})),
      integer("regex_priority").def(0).range(-2147483648.0, 2147483647.0),
      boolean("strip_path", true),
      str("path_handling").def("v0").choices(values({"v0", "v1"})),
      boolean("preserve_host", false),
      boolean("request_buffering", true),
      boolean("response_buffering", true),
      Field("snis", Type::Set).of(str("")),
      stream_endpoints("sources"),
      stream_endpoints("destinations"),
      typedefs::tags(),
      typedefs::foreign("service", "services"),
      Field("expression", Type::Json).check(expressions_unsupported),
      Field("priority", Type::Json).check(expressions_unsupported),
  });
  s.checks = {checks};
  s.nested = {"plugins", "filter_chains"};
  return s;
}

// ---- upstreams and targets --------------------------------------------

std::vector<Value> hash_sources() {
  return values({"none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"});
}

Field statuses(std::vector<int> dflt) {
  Value d = Value::array();
  for (int v : dflt) d.push_back(v);
  return Field("http_statuses", Type::Array).of(typedefs::http_status("")).def(d);
}

Field counter(std::string name) { return integer(std::move(name)).range(0, 255).def(0); }
Field interval() { return number("interval").range(0, 65535).def(0); }

Field healthchecks() {
  Field active_type = str("type").def("http").check([](const Value& v) -> Reason {
    const auto& t = v.get_ref<const std::string&>();
    if (t == "http") return {};
    if (t == "https" || t == "tcp" || t == "grpc" || t == "grpcs") return "type '" + t + "' is not supported yet";
    return "expected one of: tcp, http, https, grpc, grpcs";
  });
  Field active = record(
      "active", {
                    active_type,
                    number("timeout").range(0, 65535).def(1),
                    integer("concurrency").range(1, 2147483647).def(10),
                    typedefs::path("http_path").def("/"),
                    Field("https_verify_certificate", Type::Boolean).def(true),
                    str("https_sni"),
                    Field("headers", Type::Map).map_of(str(""), strings("")),
                    record("healthy", {interval(), statuses({200, 302}), counter("successes")}),
                    record("unhealthy", {interval(), statuses({429, 404, 500, 501, 502, 503, 504, 505}),
                                         counter("tcp_failures"), counter("timeouts"), counter("http_failures")}),
                });
  Field passive = record(
      "passive",
      {
          str("type").def("http").choices(values({"tcp", "http", "https", "grpc", "grpcs"})),
          record("healthy", {statuses({200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                                       306, 307, 308}),
                             counter("successes")}),
          record("unhealthy", {statuses({429, 500, 503}), counter("tcp_failures"), counter("timeouts"),
                               counter("http_failures")}),
      });
  return record("healthchecks", {active, passive, number("threshold").range(0, 100).def(0)});
}

// Kong's upstream checks: each hash source needs its parameter, and the
// fallback must be a different source.
std::vector<EntityCheck> upstream_checks() {
  return {
      conditional("hash_on", equals("header"), "hash_on_header", required()),
      conditional("hash_fallback", equals("header"), "hash_fallback_header", required()),
      conditional("hash_on", equals("cookie"), "hash_on_cookie", required()),
      conditional("hash_fallback", equals("cookie"), "hash_on_cookie", required()),
      conditional("hash_on", equals("none"), "hash_fallback", any_of(values({"none"}))),
      conditional("hash_on", equals("cookie"), "hash_fallback", any_of(values({"none"}))),
      conditional("hash_on", equals("consumer"), "hash_fallback",
                  any_of(values({"none", "ip", "header", "cookie", "path", "query_arg", "uri_capture"}))),
      conditional("hash_on", equals("ip"), "hash_fallback",
                  any_of(values({"none", "consumer", "header", "cookie", "path", "query_arg", "uri_capture"}))),
      conditional("hash_on", equals("path"), "hash_fallback",
                  any_of(values({"none", "consumer", "header", "cookie", "query_arg", "ip", "uri_capture"}))),
      distinct({"hash_on_header", "hash_fallback_header"}),
      conditional("hash_on", equals("query_arg"), "hash_on_query_arg", required()),
      conditional("hash_fallback", equals("query_arg"), "hash_fallback_query_arg", required()),
      distinct({"hash_on_query_arg", "hash_fallback_query_arg"}),
      conditional("hash_on", equals("uri_capture"), "hash_on_uri_capture", required()),
      conditional("hash_fallback", equals("uri_capture"), "hash_fallback_uri_capture", required()),
      distinct({"hash_on_uri_capture", "hash_fallback_uri_capture"}),
  };
}

// Kong: an upstream's name is a hostname, not an address, without a port.
Reason check_upstream_name(const Value& v) {
  const std::string& n = v.get_ref<const std::string&>();
  std::string prefix = "Invalid name ('" + n + "'); ";
  bool digits_dots = n.find_first_not_of("0123456789.") == std::string::npos;
  if (digits_dots || std::count(n.begin(), n.end(), ':') > 1) return prefix + "no ip addresses allowed";
  if (n.find(':') != std::string::npos) return prefix + "no port allowed";
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return prefix + "must be a valid hostname";
    }
  }
  return {};
}

Schema upstreams() {
  Schema s = entity("upstreams", "upstream", "name", {
      str("name").req().is_unique().check(check_upstream_name),
      str("algorithm").def("round-robin").choices(values({"consistent-hashing", "least-connections", "round-robin",
                                                          "latency"})),
      str("hash_on").def("none").choices(hash_sources()),
      str("hash_fallback").def("none").choices(hash_sources()),
      typedefs::header_name("hash_on_header"),
      typedefs::header_name("hash_fallback_header"),
      str("hash_on_cookie"),  // Kong's cookie_name typedef
      typedefs::path("hash_on_cookie_path").def("/"),
      str("hash_on_query_arg"),
      str("hash_fallback_query_arg"),
      str("hash_on_uri_capture"),
      str("hash_fallback_uri_capture"),
      integer("slots").def(10000).range(10, 65536),
      healthchecks(),
      typedefs::tags(),
      typedefs::host("host_header"),
      typedefs::foreign("client_certificate", "certificates").not_yet(),
      Field("use_srv_name", Type::Boolean).def(false).not_yet(),
  });
  s.checks = upstream_checks();
  s.nested = {"targets"};
  return s;
}

// host, host:port, [v6] or [v6]:port; Kong's default port is 8000.
Reason check_target(const Value& v) {
  const std::string& text = v.get_ref<const std::string&>();
  std::string invalid = "Invalid target ('" + text + "'); not a valid hostname or ip address";
  std::string host = text, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':')) return invalid;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) port = text.substr(close + 2);
  } else if (size_t colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return invalid;
  if (!port.empty() && (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
                        std::stoi(port) > 65535 || std::stoi(port) == 0)) {
    return invalid;
  }
  return {};
}

Schema targets() {
  Schema s = entity("targets", "target", "target", {
      typedefs::foreign("upstream", "upstreams").req(),
      str("target").req().check(check_target),
      integer("weight").def(100).range(0, 65535),
      typedefs::tags(),
  }, Type::Number);
  s.cache_key = {"upstream", "target"};
  return s;
}

// ---- filter chains (Kong's WasmX entity) --------------------------------

Schema filter_chains() {
  // root_id: wasmgate's extension (Envoy's plugin root_id; Kong has none).
  Field filter = record("", {str("name").req(), Field("config", Type::Json), boolean("enabled", true), str("root_id")});
  EntityCheck one_parent;
  one_parent.kind = EntityCheck::Kind::OnlyOneOf;
  one_parent.fields = {"service", "route"};
  one_parent.then_err = "exactly one of 'service' or 'route' must be set";
  Schema s = entity("filter_chains", "filter_chain", "name", {
      str("name").is_unique(),
      boolean("enabled", true),
      typedefs::foreign("service", "services"),
      typedefs::foreign("route", "routes"),
      Field("filters", Type::Array).req().min_len(1).of(filter),
      typedefs::tags(),
  });
  s.checks = {one_parent};
  return s;
}

// ---- plugins -----------------------------------------------------------

Schema plugins() {
  Schema s = entity("plugins", "plugin", "", {
      str("name").req(),
      str("instance_name"),
      Field("config", Type::Json),
      boolean("enabled", true),
      // Where the plugin runs: any of Kong's protocols may be listed.
      Field("protocols", Type::Set)
          .min_len(1)
          .of(str("").choices(std::vector<Value>(typedefs::kong_protocols().begin(), typedefs::kong_protocols().end())))
          .def(Value::array({"grpc", "grpcs", "http", "https"})),
      typedefs::tags(),
      typedefs::foreign("service", "services"),
      typedefs::foreign("route", "routes"),
      typedefs::foreign("consumer", "consumers"),
      Field("ordering", Type::Json).check([](const Value&) -> Reason { return "not supported yet"; }),
  });
  s.cache_key = {"name", "route", "service", "consumer"};
  return s;
}

// ---- consumers and their credentials -----------------------------------

Schema consumers() {
  EntityCheck named;
  named.kind = EntityCheck::Kind::AtLeastOneOf;
  named.fields = {"custom_id", "username"};
  Schema s = entity("consumers", "consumer", "username", {
      str("username").is_unique(),
      str("custom_id").is_unique(),
      typedefs::tags(),
  });
  s.checks = {named};
  s.nested = {"plugins", "keyauth_credentials", "acls", "basicauth_credentials", "hmacauth_credentials",
              "jwt_secrets"};
  return s;
}

Schema keyauth_credentials() {
  // Labelled by position, not by key: a problem line must not print a secret.
  Schema s = entity("keyauth_credentials", "keyauth_credential", "", {
      typedefs::foreign("consumer", "consumers").req(),
      str("key").req().is_unique(),
      integer("ttl").not_yet(),
      typedefs::tags(),
  });
  // No cache key: an id derived from the key would let anyone who sees the
  // id (X-Credential-Identifier goes upstream) test guesses of the key.
  // It derives from its consumer and position instead.
  return s;
}

Schema acls() {
  Schema s = entity("acls", "acl", "", {
      typedefs::foreign("consumer", "consumers").req(),
      str("group").req(),
      typedefs::tags(),
  });
  s.cache_key = {"consumer", "group"};
  return s;
}

// ---- basic-auth and hmac-auth credentials ------------------------------

// The password is replaced by its salted hash while the file loads
// (declarative.cc); the clear text never reaches the running config.
Schema basicauth_credentials() {
  return entity("basicauth_credentials", "basicauth_credential", "username", {
      typedefs::foreign("consumer", "consumers").req(),
      str("username").req().is_unique(),
      str("password").req(),
      typedefs::tags(),
  });
}

// Kong generates a secret when none is given (declarative.cc does too).
Schema hmacauth_credentials() {
  return entity("hmacauth_credentials", "hmacauth_credential", "username", {
      typedefs::foreign("consumer", "consumers").req(),
      str("username").req().is_unique(),
      str("secret"),
      typedefs::tags(),
  });
}

// ---- jwt_secrets (the jwt plugin's credentials) --------------------------

// Kong's checks on a secret's key: the algorithms that verify with a
// public key must have one, and it must be one OpenSSL can read. Kong does
// not ask ES* secrets for a key (a token for one then fails with "Invalid
// key/secret"), but a key that is set is checked for every non-HS
// algorithm: Kong would fail on it only per request, with a 500.
void check_jwt_key(const Value& e, Found& out) {
  auto alg = e.find("algorithm");
  if (alg == e.end() || !alg->is_string()) return;
  const std::string& a = alg->get_ref<const std::string&>();
  if (a.rfind("HS", 0) == 0) return;
  bool needs_key = a.rfind("RS", 0) == 0 || a.rfind("PS", 0) == 0 || a == "EdDSA";
  auto key = e.find("rsa_public_key");
  bool set = key != e.end() && key->is_string();
  if (!set && !needs_key) return;
  std::string why = !set ? "required field missing"
                    : parse_pem_key(key->get_ref<const std::string&>()) ? "" : "invalid key";
  if (why.empty()) return;
  out.push_back({"", "failed conditional validation given value of field 'algorithm'"});
  out.push_back({"rsa_public_key", why});
}

Schema jwt_secrets() {
  EntityCheck key_check;
  key_check.fields = {"algorithm", "rsa_public_key"};
  key_check.custom = check_jwt_key;
  // Labelled by key: it names the credential in a token's claims, it is no
  // secret (the secret is `secret`).
  Schema s = entity("jwt_secrets", "jwt_secret", "key", {
      typedefs::foreign("consumer", "consumers").req(),
      str("key").is_unique().generated(),
      str("secret").generated(),
      str("rsa_public_key"),
      str("algorithm").def("HS256").choices(values({"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256",
                                                    "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"})),
      typedefs::tags(),
  });
  s.checks = {key_check};
  s.cache_key = {"key"};
  return s;
}

// ---- certificates, snis, ca_certificates (TLS) ----------------------------

Reason check_certificate_pem(const Value& v) {
  if (!tls::valid_certificate(v.get_ref<const std::string&>())) return "invalid certificate: unable to load certificate";
  return {};
}

// Each pair must load and match (Kong checks the same when it stores one);
// the alternate pair comes whole or not at all.
void check_certificate_pairs(const Value& e, Found& out) {
  auto text = [&e](const char* k) -> std::string {
    auto it = e.find(k);
    return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string cert = text("cert"), key = text("key"), cert_alt = text("cert_alt"), key_alt = text("key_alt");
  if (cert.empty() || key.empty()) return;  // required fields report it
  std::string why = tls::check_pair(cert, key);
  if (!why.empty()) out.push_back({"", why});
  if (cert_alt.empty() != key_alt.empty()) {
    out.push_back({"", "all or none of these fields must be set: 'cert_alt', 'key_alt'"});
    return;
  }
  if (!cert_alt.empty()) {
    why = tls::check_pair(cert_alt, key_alt);
    if (!why.empty()) out.push_back({"", "alternate " + why});
  }
}

Schema certificates() {
  EntityCheck pairs;
  pairs.fields = {"cert", "key", "cert_alt", "key_alt"};
  pairs.custom = check_certificate_pairs;
  Schema s = entity("certificates", "certificate", "id", {
      str("cert").req().check(check_certificate_pem),
      str("key").req(),
      str("cert_alt").check(check_certificate_pem),
      str("key_alt"),
      typedefs::tags(),
  });
  s.checks = {pairs};
  s.nested = {"snis"};
  return s;
}

// Kong's wildcard_host: a name, with at most one '*' as its whole first or
// last label.
Reason check_sni_name(const Value& v) {
  const auto& n = v.get_ref<const std::string&>();
  if (n.empty()) return "length must be at least 1";
  const size_t star = n.find('*');
  if (star != std::string::npos) {
    if (n.find('*', star + 1) != std::string::npos) return "only one wildcard must be specified";
    const bool leftmost = star == 0 && (n.size() == 1 || n[1] == '.');
    const bool rightmost = star == n.size() - 1 && (n.size() == 1 || n[star - 1] == '.');
    if (!leftmost && !rightmost) return "wildcard must be leftmost or rightmost character";
  }
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '*' || c == '_';
    if (!ok) return "invalid hostname: " + n;
  }
  return {};
}

Schema snis() {
  Schema s = entity("snis", "sni", "name", {
      str("name").req().is_unique().check(check_sni_name),
      typedefs::foreign("certificate", "certificates").req(),
      typedefs::tags(),
  });
  return s;
}

Schema ca_certificates() {
  Schema s = entity("ca_certificates", "ca_certificate", "id", {
      str("cert").req().check(check_certificate_pem),
      str("cert_digest"),
      typedefs::tags(),
  });
  return s;
}

std::map<std::string, PluginSchema>& plugin_registry() {
  static std::map<std::string, PluginSchema> registry;
  return registry;
}

}  // namespace

const std::vector<const Schema*>& entity_schemas() {
  static const Schema kUpstreams = upstreams(), kTargets = targets(), kServices = services(), kRoutes = routes(),
                      kChains = filter_chains(), kConsumers = consumers(), kKeyauth = keyauth_credentials(),
                      kAcls = acls(), kBasicauth = basicauth_credentials(), kHmacauth = hmacauth_credentials(),
                      kJwtSecrets = jwt_secrets(), kPlugins = plugins(), kCertificates = certificates(),
                      kSnis = snis(), kCaCertificates = ca_certificates();
  static const std::vector<const Schema*> kAll = {&kCertificates, &kSnis, &kCaCertificates,
                                                  &kUpstreams, &kTargets,   &kServices, &kRoutes,    &kChains,
                                                  &kConsumers, &kKeyauth,   &kAcls,     &kBasicauth, &kHmacauth,
                                                  &kJwtSecrets, &kPlugins};
  return kAll;
}

const Schema* entity_schema(const std::string& plural) {
  for (const Schema* s : entity_schemas()) {
    if (s->name == plural) return s;
  }
  return nullptr;
}

bool entity_not_supported_yet(const std::string& plural) {
  static const std::set<std::string> kNotYet = {
      "consumer_groups", "vaults", "key_sets", "keys",
      "parameters", "oauth2_credentials", "mtls_auth_credentials", "workspaces", "rbac_users", "licenses"};
  return kNotYet.count(plural) > 0;
}

std::string not_yet_label_field(const std::string& plural) {
  if (plural == "consumers") return "username";
  if (plural == "keyauth_credentials") return "key";
  if (plural == "jwt_secrets") return "key";
  if (plural == "acls") return "group";
  if (plural == "snis" || plural == "consumer_groups" || plural == "key_sets" || plural == "keys") {
    return "name";
  }
  if (plural == "vaults") return "prefix";
  return "id";
}

void register_plugin_schema(const std::string& name, PluginSchema schema) {
  schema.config.name = "config";
  plugin_registry()[name] = std::move(schema);
}

const PluginSchema* plugin_schema(const std::string& name) {
  auto it = plugin_registry().find(name);
  return it == plugin_registry().end() ? nullptr : &it->second;
}

}  // namespace wg::config

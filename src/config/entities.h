// Kong 3.x entities as the gateway understands them, after validation.
// Defaults are Kong's (kong/db/schema/entities/*.lua).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wg::config {

struct Service {
  std::string id;
  std::string name;
  std::string protocol = "http";
  std::string host;
  int port = 80;
  std::string path;  // empty means "/"
  int retries = 5;
  int connect_timeout_ms = 60000;
  int write_timeout_ms = 60000;
  int read_timeout_ms = 60000;
  bool enabled = true;
  // Upstream TLS (protocol https). Kong's defaults: no verification.
  bool tls_verify = false;
  int tls_verify_depth = -1;             // -1: OpenSSL's default
  std::vector<int> ca_certificates;      // indexes into Declarative::ca_certificates
  int client_certificate = -1;           // index into Declarative::certificates (mTLS)
};

// TLS termination: a certificate (and its alternate, RSA + ECDSA), PEM.
struct Certificate {
  std::string id;
  std::string cert, key, cert_alt, key_alt;
};

// A server name and the certificate served for it ("*.example.com",
// "example.*" and "*" as Kong allows).
struct Sni {
  std::string id;
  std::string name;  // lower-cased
  int certificate = -1;
};

struct CaCertificate {
  std::string id;
  std::string cert;  // PEM
};

struct HeaderMatcher {
  std::string name;                 // lower-cased
  std::vector<std::string> values;  // as written; "~*" prefix: case-insensitive regex
};

struct Route {
  std::string id;
  std::string name;
  std::vector<std::string> protocols = {"http", "https"};
  std::vector<std::string> paths;    // prefixes, or "~" + regex
  std::vector<std::string> hosts;    // lower-cased; may hold one leading or trailing "*" label
  std::vector<std::string> methods;  // upper-case tokens
  std::vector<HeaderMatcher> headers;
  std::vector<std::string> snis;
  int regex_priority = 0;
  bool path_handling_v1 = false;  // Kong's deprecated v1 joining
  int https_redirect_status_code = 426;
  bool strip_path = true;
  bool preserve_host = false;
  bool request_buffering = true;
  bool response_buffering = true;
  std::vector<std::string> tags;
  int service = -1;  // index into Declarative::services, -1 when none

  bool allows(std::string_view protocol) const {
    for (const auto& p : protocols) {
      if (p == protocol) return true;
    }
    return false;
  }
};

// Kong's healthchecks block (lua-resty-healthcheck semantics and defaults).
struct ActiveHealthcheck {
  std::string type = "http";
  std::string http_path = "/";
  double timeout_s = 1;
  int concurrency = 10;
  std::vector<std::pair<std::string, std::vector<std::string>>> headers;
  // healthy
  double healthy_interval_s = 0;  // 0: no probes of healthy targets
  std::vector<int> healthy_statuses = {200, 302};
  int healthy_successes = 0;
  // unhealthy
  double unhealthy_interval_s = 0;  // 0: no probes of unhealthy targets
  std::vector<int> unhealthy_statuses = {429, 404, 500, 501, 502, 503, 504, 505};
  int unhealthy_tcp_failures = 0;
  int unhealthy_timeouts = 0;
  int unhealthy_http_failures = 0;
};

struct PassiveHealthcheck {
  std::string type = "http";
  std::vector<int> healthy_statuses = {200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
                                       300, 301, 302, 303, 304, 305, 306, 307, 308};
  int healthy_successes = 0;
  std::vector<int> unhealthy_statuses = {429, 500, 503};
  int unhealthy_tcp_failures = 0;
  int unhealthy_timeouts = 0;
  int unhealthy_http_failures = 0;
};

struct Healthchecks {
  ActiveHealthcheck active;
  PassiveHealthcheck passive;
  double threshold = 0;  // percent of healthy weight below which the upstream is down

  bool active_enabled() const { return active.healthy_interval_s > 0 || active.unhealthy_interval_s > 0; }
  bool passive_enabled() const {
    return passive.healthy_successes > 0 || passive.unhealthy_tcp_failures > 0 || passive.unhealthy_timeouts > 0 ||
           passive.unhealthy_http_failures > 0;
  }
};

struct Target {
  std::string id;
  std::string host;  // name or address, as written
  int port = 8000;
  int weight = 100;
  std::vector<std::string> tags;
};

struct Upstream {
  std::string id;
  std::string name;
  std::string algorithm = "round-robin";
  std::string hash_on = "none";
  std::string hash_fallback = "none";
  std::string hash_on_header, hash_fallback_header;
  std::string hash_on_cookie, hash_on_cookie_path = "/";
  std::string hash_on_query_arg, hash_fallback_query_arg;
  std::string hash_on_uri_capture, hash_fallback_uri_capture;
  int slots = 10000;
  std::string host_header;
  Healthchecks healthchecks;
  std::vector<Target> targets;
  std::vector<std::string> tags;
};

struct FilterEntry {
  std::string name;
  std::string config;  // passed to proxy_on_configure as text (JSON re-serialized)
  bool enabled = true;
  // wasmgate's extension: Envoy's root_id for this entry (plugin_root_id);
  // unset, NAME.meta.json's applies.
  std::string root_id;
  bool has_root_id = false;
};

struct FilterChain {
  std::string id;
  std::string name;
  bool enabled = true;
  int service = -1;  // exactly one of service and route
  int route = -1;
  std::vector<FilterEntry> filters;
  std::vector<std::string> tags;
};

// Kong's consumers and the credentials and groups that identify them.
struct Consumer {
  std::string id;
  std::string username;   // at least one of username and custom_id
  std::string custom_id;
  std::vector<std::string> tags;
};

struct KeyauthCredential {
  std::string id;
  int consumer = -1;  // index into Declarative::consumers
  std::string key;
  int ttl = 0;  // seconds; 0: never expires (DB-less loads have no creation time to count from)
};

struct Acl {
  std::string id;
  int consumer = -1;
  std::string group;
};

// basic-auth's credential: the password only as its salted hash
// (config/credentials.h), never the clear text.
struct BasicauthCredential {
  std::string id;
  int consumer = -1;  // index into Declarative::consumers
  std::string username;
  std::string password_hash;
};

struct HmacauthCredential {
  std::string id;
  int consumer = -1;  // index into Declarative::consumers
  std::string username;
  std::string secret;
};

// A jwt plugin credential: tokens whose key claim names `key` are checked
// with `secret` (HS*) or `rsa_public_key` (the others, PEM, checked at load).
struct JwtSecret {
  std::string id;
  int consumer = -1;  // index into Declarative::consumers
  std::string key;
  std::string secret;
  std::string rsa_public_key;  // empty when not set
  std::string algorithm = "HS256";
  std::vector<std::string> tags;
};

// Kong's plugins entity: one configured instance, scoped to a service, a
// route, both, or neither (global). Its config has passed the plugin's
// schema, defaults filled.
struct PluginInstance {
  std::string id;
  std::string name;
  std::string instance_name;
  std::string config_json;
  bool enabled = true;
  std::vector<std::string> protocols;
  int service = -1;  // index into Declarative::services; -1: any
  int route = -1;    // index into Declarative::routes; -1: any
  std::string consumer;  // consumer id; empty: any
  std::vector<std::string> tags;
};

struct Declarative {
  std::vector<Certificate> certificates;
  std::vector<Sni> snis;
  std::vector<CaCertificate> ca_certificates;
  std::vector<FilterChain> filter_chains;
  std::vector<Upstream> upstreams;
  std::vector<Service> services;
  std::vector<Route> routes;  // in file order, which stands in for created_at
  std::vector<PluginInstance> plugins;
  std::vector<Consumer> consumers;
  std::vector<KeyauthCredential> keyauth_credentials;
  std::vector<Acl> acls;
  std::vector<BasicauthCredential> basicauth_credentials;
  std::vector<HmacauthCredential> hmacauth_credentials;
  std::vector<JwtSecret> jwt_secrets;
  std::vector<std::string> warnings;  // e.g. paths translated from an older format
};

}  // namespace wg::config

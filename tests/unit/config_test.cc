#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/loader.h"

using namespace wg::config;

namespace {

struct Loaded {
  bool ok = false;
  Declarative decl;
  std::vector<std::string> errors;
};

Loaded load(const std::string& text) {
  Loaded l;
  l.ok = load_text(text, l.decl, l.errors);
  return l;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += "\n  " + e;
  return s;
}

bool has(const Loaded& l, const std::string& exact) {
  return std::find(l.errors.begin(), l.errors.end(), exact) != l.errors.end();
}

// Exactly one error, equal to `exact`.
void expect_only_error(const std::string& yaml, const std::string& exact) {
  Loaded l = load(yaml);
  EXPECT_FALSE(l.ok) << yaml;
  ASSERT_EQ(l.errors.size(), 1u) << yaml << join(l.errors);
  EXPECT_EQ(l.errors[0], exact) << yaml;
}

const char* kHeader = "_format_version: \"3.0\"\n";

}  // namespace

TEST(ConfigLoader, MinimalValid) {
  Loaded l = load(std::string(kHeader) +
                  "services:\n"
                  "  - name: svc\n"
                  "    host: 10.0.0.1\n"
                  "    routes:\n"
                  "      - name: r\n"
                  "        paths: [/api]\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_TRUE(l.errors.empty());
  ASSERT_EQ(l.decl.services.size(), 1u);
  ASSERT_EQ(l.decl.routes.size(), 1u);
  const Service& s = l.decl.services[0];
  EXPECT_EQ(s.name, "svc");
  EXPECT_EQ(s.host, "10.0.0.1");
  EXPECT_EQ(s.protocol, "http");
  EXPECT_EQ(s.port, 80);
  EXPECT_EQ(s.path, "");
  const Route& r = l.decl.routes[0];
  EXPECT_EQ(r.name, "r");
  EXPECT_EQ(r.paths, std::vector<std::string>{"/api"});
  EXPECT_EQ(r.service, 0);
}

TEST(ConfigLoader, EmptyFileWithOnlyVersion) {
  Loaded l = load(kHeader);
  EXPECT_TRUE(l.ok) << join(l.errors);
  EXPECT_TRUE(l.decl.services.empty());
  EXPECT_TRUE(l.decl.routes.empty());
}

TEST(ConfigLoader, Defaults) {
  Loaded l = load(std::string(kHeader) +
                  "services:\n"
                  "  - name: svc\n"
                  "    host: example.com\n"
                  "    routes:\n"
                  "      - paths: [/]\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  const Service& s = l.decl.services[0];
  EXPECT_EQ(s.retries, 5);
  EXPECT_EQ(s.connect_timeout_ms, 60000);
  EXPECT_EQ(s.write_timeout_ms, 60000);
  EXPECT_EQ(s.read_timeout_ms, 60000);
  EXPECT_TRUE(s.enabled);
  const Route& r = l.decl.routes[0];
  EXPECT_TRUE(r.strip_path);
  EXPECT_FALSE(r.preserve_host);
  EXPECT_FALSE(r.path_handling_v1);
  EXPECT_EQ(r.regex_priority, 0);
  EXPECT_EQ(r.https_redirect_status_code, 426);
  EXPECT_TRUE(r.request_buffering);
  EXPECT_TRUE(r.response_buffering);
  EXPECT_EQ(r.protocols, (std::vector<std::string>{"http", "https"}));
  EXPECT_EQ(r.name, "");
}

TEST(ConfigLoader, ExplicitServiceFields) {
  Loaded l = load(std::string(kHeader) +
                  "services:\n"
                  "  - name: svc\n"
                  "    protocol: http\n"
                  "    host: example.com\n"
                  "    port: 8080\n"
                  "    path: /base\n"
                  "    retries: 0\n"
                  "    connect_timeout: 1\n"
                  "    write_timeout: 2000\n"
                  "    read_timeout: 3000\n"
                  "    enabled: false\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  const Service& s = l.decl.services[0];
  EXPECT_EQ(s.port, 8080);
  EXPECT_EQ(s.path, "/base");
  EXPECT_EQ(s.retries, 0);
  EXPECT_EQ(s.connect_timeout_ms, 1);
  EXPECT_EQ(s.write_timeout_ms, 2000);
  EXPECT_EQ(s.read_timeout_ms, 3000);
  EXPECT_FALSE(s.enabled);
}

TEST(ConfigLoader, UrlShorthand) {
  struct Case {
    const char* url;
    const char* host;
    int port;
    const char* path;
  } cases[] = {
      {"http://example.com", "example.com", 80, ""},
      {"http://example.com/", "example.com", 80, "/"},
      {"http://example.com:8080", "example.com", 8080, ""},
      {"http://127.0.0.1:8002/a/b", "127.0.0.1", 8002, "/a/b"},
      {"HTTP://example.com/x/", "example.com", 80, "/x/"},
      {"http://h:65535", "h", 65535, ""},
  };
  for (const auto& c : cases) {
    Loaded l = load(std::string(kHeader) + "services:\n  - name: s\n    url: " + c.url + "\n");
    ASSERT_TRUE(l.ok) << c.url << join(l.errors);
    const Service& s = l.decl.services[0];
    EXPECT_EQ(s.protocol, "http") << c.url;
    EXPECT_EQ(s.host, c.host) << c.url;
    EXPECT_EQ(s.port, c.port) << c.url;
    EXPECT_EQ(s.path, c.path) << c.url;
  }
  // https fills the default port 443 (upstream TLS).
  Declarative d;
  std::vector<std::string> errors;
  Normalized n;
  EXPECT_TRUE(load_text(std::string(kHeader) + "services:\n  - name: s\n    url: https://example.com\n", d, errors, &n))
      << join(errors);
  EXPECT_EQ(n.config["services"][0]["port"], 443);
  EXPECT_EQ(d.services[0].protocol, "https");
}

TEST(ConfigLoader, UrlErrors) {
  struct Case {
    const char* url;
    const char* error;
  } cases[] = {
      {"example.com", "service 's' field 'url': missing scheme"},
      {"http://", "service 's' field 'url': missing host"},
      {"http://h:", "service 's' field 'url': invalid port ''"},
      {"http://h:99999", "service 's' field 'url': invalid port '99999'"},
      {"http://h:123456", "service 's' field 'url': invalid port '123456'"},
      {"http://h:8x", "service 's' field 'url': invalid port '8x'"},
  };
  for (const auto& c : cases) {
    expect_only_error(std::string(kHeader) + "services:\n  - name: s\n    url: \"" + c.url + "\"\n", c.error);
  }
  expect_only_error(std::string(kHeader) + "services:\n  - name: s\n    url: http://a\n    host: b\n",
                    "service 's' field 'url': cannot be set together with 'host'");
  expect_only_error(std::string(kHeader) + "services:\n  - name: s\n    port: 80\n",
                    "service 's' field 'host': required field missing");
}

TEST(ConfigLoader, NestedAndTopLevelRoutes) {
  Loaded l = load(std::string(kHeader) +
                  "services:\n"
                  "  - name: a\n"
                  "    id: 11111111-1111-1111-1111-111111111111\n"
                  "    host: a.internal\n"
                  "    routes:\n"
                  "      - name: nested\n"
                  "        paths: [/n]\n"
                  "  - name: b\n"
                  "    id: 22222222-2222-2222-2222-222222222222\n"
                  "    host: b.internal\n"
                  "routes:\n"
                  "  - name: by-name\n"
                  "    paths: [/x]\n"
                  "    service: b\n"
                  "  - name: by-name-map\n"
                  "    paths: [/y]\n"
                  "    service:\n"
                  "      name: a\n"
                  "  - name: by-id\n"
                  "    paths: [/z]\n"
                  "    service:\n"
                  "      id: 22222222-2222-2222-2222-222222222222\n"
                  "  - name: no-service\n"
                  "    paths: [/w]\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  ASSERT_EQ(l.decl.routes.size(), 5u);
  EXPECT_EQ(l.decl.routes[0].name, "nested");
  EXPECT_EQ(l.decl.routes[0].service, 0);
  EXPECT_EQ(l.decl.routes[1].name, "by-name");
  EXPECT_EQ(l.decl.routes[1].service, 1);
  EXPECT_EQ(l.decl.routes[2].service, 0);
  EXPECT_EQ(l.decl.routes[3].service, 1);
  EXPECT_EQ(l.decl.routes[4].service, -1);
  EXPECT_EQ(l.decl.services[0].id, "11111111-1111-1111-1111-111111111111");
}

TEST(ConfigLoader, RouteFieldsParsed) {
  Loaded l = load(std::string(kHeader) +
                  "services:\n"
                  "  - name: s\n"
                  "    host: h\n"
                  "    routes:\n"
                  "      - name: r\n"
                  "        hosts: [Example.COM, \"*.wild.test\", \"api.*\", \"h.test:8000\"]\n"
                  "        methods: [GET, POST]\n"
                  "        headers:\n"
                  "          X-Version: [\"1\", \"~*^v[0-9]$\"]\n"
                  "        paths: [\"/a\", \"~/items/(?<id>\\\\d+)$\"]\n"
                  "        regex_priority: 7\n"
                  "        path_handling: v1\n"
                  "        strip_path: false\n"
                  "        preserve_host: true\n"
                  "        https_redirect_status_code: 308\n"
                  "        protocols: [http]\n"
                  "        tags: [t1, t2]\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  const Route& r = l.decl.routes[0];
  EXPECT_EQ(r.hosts, (std::vector<std::string>{"example.com", "*.wild.test", "api.*", "h.test:8000"}));
  EXPECT_EQ(r.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name, "x-version");
  EXPECT_EQ(r.headers[0].values, (std::vector<std::string>{"1", "~*^v[0-9]$"}));
  EXPECT_EQ(r.paths, (std::vector<std::string>{"/a", "~/items/(?<id>\\d+)$"}));
  EXPECT_EQ(r.regex_priority, 7);
  EXPECT_TRUE(r.path_handling_v1);
  EXPECT_FALSE(r.strip_path);
  EXPECT_TRUE(r.preserve_host);
  EXPECT_EQ(r.https_redirect_status_code, 308);
  EXPECT_EQ(r.protocols, std::vector<std::string>{"http"});
  EXPECT_EQ(r.tags, (std::vector<std::string>{"t1", "t2"}));
}

TEST(ConfigLoader, TopLevelErrors) {
  expect_only_error("services: []\n", "config 'root' field '_format_version': required field missing");
  expect_only_error("_format_version: \"2.0\"\n",
                    "config 'root' field '_format_version': unsupported version (expected \"3.0\", \"2.1\" or "
                    "\"1.1\")");
  expect_only_error("_format_version: 3.0\nfoo: []\n",
                    "config 'root' field 'foo': unknown entity type");
  expect_only_error("_format_version: \"3.0\"\nservices: {}\n", "config 'root' field 'services': expected an array");
  expect_only_error("- a\n- b\n",
                    "config 'root' field '-': expected a mapping with _format_version, services, routes, ...");
  // Metadata keys are fine.
  Loaded l = load(std::string(kHeader) + "_transform: true\n_workspace: default\n_info:\n  select_tags: [a]\n");
  EXPECT_TRUE(l.ok) << join(l.errors);
}

TEST(ConfigLoader, NotYetSupportedEntityTypes) {
  // Empty lists (as decK writes them) are fine.
  Loaded ok = load(std::string(kHeader) + "plugins: []\nconsumers: []\ncertificates: []\nupstreams: []\n"
                                          "targets: []\nsnis:\nvaults: []\n");
  EXPECT_TRUE(ok.ok) << join(ok.errors);
  expect_only_error(std::string(kHeader) + "plugins:\n  - name: rate-limiting\n    config: {minute: 5}\n",
                    "plugin 'rate-limiting' field 'name': plugin 'rate-limiting' is not supported yet");
  expect_only_error(std::string(kHeader) + "oauth2_credentials:\n  - id: bob\n",
                    "oauth2_credential 'bob' field '-': entity type 'oauth2_credentials' is not supported yet");
  // Plugins nested in a service or route: empty is fine, entries are refused.
  Loaded nested_ok = load(std::string(kHeader) +
                          "services:\n  - name: s\n    host: h\n    plugins: []\n"
                          "    routes:\n      - name: r\n        paths: [/]\n        plugins: []\n");
  EXPECT_TRUE(nested_ok.ok) << join(nested_ok.errors);
  expect_only_error(std::string(kHeader) + "services:\n  - name: s\n    host: h\n    plugins:\n      - name: session\n",
                    "plugin 'session' field 'name': plugin 'session' is not supported yet");
}

TEST(ConfigLoader, UpstreamsAreSupported) {
  // Upstreams and targets are implemented (the brief this suite was written
  // against predates that): a non-empty list loads.
  Loaded l = load(std::string(kHeader) +
                  "upstreams:\n"
                  "  - name: up\n"
                  "    algorithm: round-robin\n"
                  "    targets:\n"
                  "      - target: 10.0.0.1:8080\n"
                  "        weight: 50\n"
                  "      - target: 10.0.0.2\n"
                  "services:\n"
                  "  - name: s\n"
                  "    host: up\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  ASSERT_EQ(l.decl.upstreams.size(), 1u);
  ASSERT_EQ(l.decl.upstreams[0].targets.size(), 2u);
  EXPECT_EQ(l.decl.upstreams[0].targets[0].host, "10.0.0.1");
  EXPECT_EQ(l.decl.upstreams[0].targets[0].port, 8080);
  EXPECT_EQ(l.decl.upstreams[0].targets[0].weight, 50);
  EXPECT_EQ(l.decl.upstreams[0].targets[1].port, 8000);
  EXPECT_EQ(l.decl.upstreams[0].targets[1].weight, 100);
  expect_only_error(std::string(kHeader) + "upstreams:\n  - name: up\n    algorithm: random\n",
                    "upstream 'up' field 'algorithm': expected one of: consistent-hashing, least-connections, "
                    "round-robin, latency");
}

TEST(ConfigLoader, ServiceFieldErrors) {
  const std::string pre = std::string(kHeader) + "services:\n  - name: s\n    host: h\n";
  struct Case {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"    colour: red\n", "service 's' field 'colour': unknown field"},
      {"    port: 65536\n", "service 's' field 'port': value should be between 0 and 65535"},
      {"    port: -1\n", "service 's' field 'port': value should be between 0 and 65535"},
      {"    port: eighty\n", "service 's' field 'port': expected an integer"},
      {"    port: 80.5\n", "service 's' field 'port': expected an integer"},
      {"    retries: 40000\n", "service 's' field 'retries': value should be between 0 and 32767"},
      {"    connect_timeout: 0\n", "service 's' field 'connect_timeout': value should be between 1 and 2147483646"},
      {"    path: nope\n", "service 's' field 'path': should start with: /"},
      {"    enabled: maybe\n", "service 's' field 'enabled': expected a boolean"},
      {"    protocol: grpc\n", "service 's' field 'protocol': protocol 'grpc' is not supported yet"},
      {"    protocol: gopher\n",
       "service 's' field 'protocol': expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"},
      {"    tls_verify: yes please\n", "service 's' field 'tls_verify': expected a boolean"},
      {"    tls_verify_depth: 65\n", "service 's' field 'tls_verify_depth': value should be between 0 and 64"},
      {"    routes: {}\n", "service 's' field 'routes': expected an array"},
  };
  for (const auto& c : cases) expect_only_error(pre + c.yaml, c.error);
  expect_only_error(std::string(kHeader) + "services:\n  - name: \"bad name\"\n    host: h\n",
                    "service 'bad name' field 'name': invalid value 'bad name': the only accepted ascii "
                    "characters are alphanumerics or ., -, _, and ~");
  // Unnamed entities are labelled by their index.
  expect_only_error(std::string(kHeader) + "services:\n  - host: a\n  - host: b\n    bogus: 1\n",
                    "service '1' field 'bogus': unknown field");
  // Null-valued optional fields are fine (decK writes them).
  Loaded l = load(pre + "    path: null\n    tls_verify: null\n    ca_certificates: null\n    tags: null\n");
  EXPECT_TRUE(l.ok) << join(l.errors);
}

TEST(ConfigLoader, RouteFieldErrors) {
  const std::string pre = std::string(kHeader) + "services:\n  - name: s\n    host: h\n    routes:\n"
                          "      - name: r\n";
  struct Case {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"        paths: [/a]\n        colour: red\n", "route 'r' field 'colour': unknown field"},
      {"        paths: [a]\n",
       "route 'r' field 'paths': should start with: / (fixed path) or ~/ (regex path)"},
      {"        paths: [/a]\n        path_handling: v2\n", "route 'r' field 'path_handling': expected one of: v0, v1"},
      {"        hosts: [\"a.*.com\"]\n",
       "route 'r' field 'hosts': invalid wildcard: must be placed at leftmost or rightmost label"},
      {"        hosts: [\"*.a.*\"]\n", "route 'r' field 'hosts': invalid wildcard: must have at most one wildcard"},
      {"        hosts: [\"a b\"]\n", "route 'r' field 'hosts': invalid hostname: a b"},
      {"        hosts: [\"\"]\n", "route 'r' field 'hosts': length must be at least 1"},
      {"        methods: [get]\n", "route 'r' field 'methods': invalid value: get"},
      {"        paths: [/a]\n        regex_priority: x\n", "route 'r' field 'regex_priority': expected an integer"},
      {"        paths: [/a]\n        https_redirect_status_code: 303\n",
       "route 'r' field 'https_redirect_status_code': expected one of: 426, 301, 302, 307, 308"},
      {"        paths: [/a]\n        protocols: [grpc]\n", "route 'r' field 'protocols': protocol 'grpc' is not supported yet"},
      {"        paths: [/a]\n        protocols: [ftp]\n", "route 'r' field 'protocols': unknown protocol 'ftp'"},
      {"        paths: [/a]\n        protocols: []\n", "route 'r' field 'protocols': length must be at least 1"},
      {"        paths: [/a]\n        expression: 'http.path == \"/\"'\n",
       "route 'r' field 'expression': the expressions router flavor is not supported"},
      {"        paths: [/a]\n        service: s\n", "route 'r' field 'service': cannot be set on a route nested under a service"},
      {"        headers:\n          host: [a]\n        paths: [/a]\n",
       "route 'r' field 'headers': cannot contain 'host' header, which must be specified in the 'hosts' attribute"},
      {"        headers:\n          x-a: []\n        paths: [/a]\n", "route 'r' field 'headers.x-a': length must be at least 1"},
      {"        paths: [/a]\n        sources: [{ip: 1.2.3.4}]\n",
       "route 'r' field 'sources': cannot set 'sources' when 'protocols' is 'http' or 'https'"},
      {"        strip_path: true\n",
       "route 'r' field '-': must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is "
       "'https'"},
      {"        protocols: [http]\n",
       "route 'r' field '-': must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"},
  };
  for (const auto& c : cases) expect_only_error(pre + c.yaml, c.error);
  // Kong's conditional checks name the entity and the field.
  Loaded snis = load(pre + "        paths: [/a]\n        protocols: [http]\n        snis: [a.test]\n");
  EXPECT_EQ(snis.errors.size(), 2u) << join(snis.errors);
  EXPECT_TRUE(has(snis, "route 'r' field '-': 'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or "
                        "'tls_passthrough'"))
      << join(snis.errors);
  EXPECT_TRUE(has(snis, "route 'r' field 'snis': length must be 0")) << join(snis.errors);
}

TEST(ConfigLoader, RegexPathsAndWildcardsAccepted) {
  // Regex paths, wildcard hosts, regex_priority and path_handling v1 are
  // implemented; only malformed values are refused.
  Loaded l = load(std::string(kHeader) +
                  "routes:\n"
                  "  - name: re\n    paths: [\"~/x\"]\n    regex_priority: 10\n"
                  "  - name: re0\n    paths: [\"~/y$\"]\n    regex_priority: 0\n"
                  "  - name: wl\n    hosts: [\"*.example.com\"]\n"
                  "  - name: wr\n    hosts: [\"example.*\"]\n"
                  "  - name: v0\n    paths: [/v0]\n    path_handling: v0\n"
                  "  - name: v1\n    paths: [/v1]\n    path_handling: v1\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_EQ(l.decl.routes[0].regex_priority, 10);
  EXPECT_FALSE(l.decl.routes[4].path_handling_v1);
  EXPECT_TRUE(l.decl.routes[5].path_handling_v1);
  Loaded bad = load(std::string(kHeader) + "routes:\n  - name: re\n    paths: [\"~/(unclosed\"]\n");
  EXPECT_FALSE(bad.ok);
  ASSERT_EQ(bad.errors.size(), 1u) << join(bad.errors);
  EXPECT_EQ(bad.errors[0].rfind("route 're' field 'paths': ", 0), 0u) << bad.errors[0];
}

TEST(ConfigLoader, MissingServiceReference) {
  expect_only_error(std::string(kHeader) + "routes:\n  - name: r\n    paths: [/]\n    service: ghost\n",
                    "route 'r' field 'service': invalid reference 'service: ghost' (no such entry in 'services')");
  expect_only_error(std::string(kHeader) + "routes:\n  - paths: [/]\n    service: {id: nope}\n",
                    "route '0' field 'service': invalid reference 'service: {\"id\":\"nope\"}' (no such entry in "
                    "'services')");
}

TEST(ConfigLoader, DuplicateNames) {
  expect_only_error(std::string(kHeader) + "services:\n  - name: s\n    host: a\n  - name: s\n    host: b\n",
                    "service 's' field 'name': uniqueness violation: 'services' entity with name set to 's' already declared");
  expect_only_error(std::string(kHeader) +
                        "services:\n  - name: s\n    host: a\n    routes:\n      - name: r\n        paths: [/a]\n"
                        "routes:\n  - name: r\n    paths: [/b]\n",
                    "route 'r' field 'name': uniqueness violation: 'routes' entity with name set to 'r' already declared");
  // Unnamed routes never clash.
  Loaded l = load(std::string(kHeader) + "routes:\n  - paths: [/a]\n  - paths: [/b]\n");
  EXPECT_TRUE(l.ok) << join(l.errors);
}

TEST(ConfigLoader, AllErrorsReportedAtOnce) {
  Loaded l = load("_format_version: \"0.9\"\n"
                  "bogus: 1\n"
                  "services:\n"
                  "  - name: s\n"
                  "    host: h\n"
                  "    port: 70000\n"
                  "    colour: blue\n"
                  "routes:\n"
                  "  - name: r\n"
                  "    service: nope\n"
                  "    methods: [get]\n");
  EXPECT_FALSE(l.ok);
  EXPECT_EQ(l.errors.size(), 6u) << join(l.errors);
  EXPECT_TRUE(has(l, "config 'root' field '_format_version': unsupported version (expected \"3.0\", \"2.1\" or "
                     "\"1.1\")"));
  EXPECT_TRUE(has(l, "config 'root' field 'bogus': unknown entity type"));
  EXPECT_TRUE(has(l, "service 's' field 'port': value should be between 0 and 65535"));
  EXPECT_TRUE(has(l, "service 's' field 'colour': unknown field"));
  EXPECT_TRUE(has(l, "route 'r' field 'methods': invalid value: get"));
  EXPECT_TRUE(has(l, "route 'r' field 'service': invalid reference 'service: nope' (no such entry in 'services')"));
  // Every error follows `entity 'label' field 'x': reason`.
  for (const auto& e : l.errors) {
    size_t q1 = e.find(" '");
    size_t f = e.find("' field '");
    size_t colon = e.find("': ", f == std::string::npos ? 0 : f + 9);
    EXPECT_TRUE(q1 != std::string::npos && f != std::string::npos && colon != std::string::npos && q1 < f) << e;
  }
}

TEST(ConfigLoader, ErrorsAppendToExistingVector) {
  Declarative d;
  std::vector<std::string> errors = {"earlier"};
  EXPECT_TRUE(load_text(kHeader, d, errors));  // ok is relative to this call
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_FALSE(load_text("x: 1\n", d, errors));
  EXPECT_GT(errors.size(), 1u);
}

TEST(ConfigLoader, TypicalDeckDump) {
  Loaded l = load(R"(_format_version: "3.0"
_transform: true
_info:
  select_tags: []
  defaults:
services:
- connect_timeout: 60000
  created_at: 1700000000
  enabled: true
  host: httpbin.internal
  id: 0855b320-0dd2-547d-891d-601e9b38647f
  name: httpbin
  path: /anything
  port: 80
  protocol: http
  read_timeout: 60000
  retries: 5
  tags:
  - team-a
  updated_at: 1700000000
  write_timeout: 60000
  tls_verify: null
  tls_verify_depth: null
  client_certificate: null
  ca_certificates: null
  plugins: []
  routes:
  - created_at: 1700000000
    https_redirect_status_code: 426
    id: 481a9539-f49c-51b6-b2e2-fe99ee68866c
    name: httpbin-route
    path_handling: v0
    paths:
    - /httpbin
    preserve_host: false
    protocols:
    - http
    - https
    regex_priority: 0
    request_buffering: true
    response_buffering: true
    strip_path: true
    tags:
    - team-a
    updated_at: 1700000000
    methods: null
    hosts: null
    headers: null
    snis: null
    sources: null
    destinations: null
    plugins: []
consumers: []
plugins: []
upstreams: []
certificates: []
ca_certificates: []
)");
  ASSERT_TRUE(l.ok) << join(l.errors);
  ASSERT_EQ(l.decl.services.size(), 1u);
  ASSERT_EQ(l.decl.routes.size(), 1u);
  EXPECT_EQ(l.decl.services[0].id, "0855b320-0dd2-547d-891d-601e9b38647f");
  EXPECT_EQ(l.decl.services[0].path, "/anything");
  EXPECT_EQ(l.decl.routes[0].id, "481a9539-f49c-51b6-b2e2-fe99ee68866c");
  EXPECT_EQ(l.decl.routes[0].service, 0);
  EXPECT_EQ(l.decl.routes[0].protocols, (std::vector<std::string>{"http", "https"}));
  EXPECT_EQ(l.decl.routes[0].tags, std::vector<std::string>{"team-a"});
}

TEST(ConfigLoader, JsonInput) {
  Loaded l = load(R"({"_format_version": "3.0",
    "services": [{"name": "s", "url": "http://10.1.2.3:9000/p",
                  "routes": [{"name": "r", "paths": ["/j"], "methods": ["GET"], "strip_path": false}]}]})");
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_EQ(l.decl.services[0].host, "10.1.2.3");
  EXPECT_EQ(l.decl.services[0].port, 9000);
  EXPECT_EQ(l.decl.services[0].path, "/p");
  EXPECT_FALSE(l.decl.routes[0].strip_path);
  EXPECT_EQ(l.decl.routes[0].methods, std::vector<std::string>{"GET"});
}

TEST(ConfigLoader, SyntaxErrorReported) {
  Loaded l = load("_format_version: \"3.0\"\nservices:\n  - name: [unclosed\n");
  EXPECT_FALSE(l.ok);
  ASSERT_EQ(l.errors.size(), 1u) << join(l.errors);
  EXPECT_EQ(l.errors[0].rfind("config 'root' field '-': cannot parse YAML/JSON at line ", 0), 0u) << l.errors[0];
  Loaded j = load("{\"_format_version\": \"3.0\", \"services\": [}");
  EXPECT_FALSE(j.ok);
  ASSERT_EQ(j.errors.size(), 1u);
  EXPECT_EQ(j.errors[0].rfind("config 'root' field '-': cannot parse YAML/JSON at line 1", 0), 0u) << j.errors[0];
}

TEST(ConfigLoader, DemoConfigLoads) {
  Loaded l = load(kDemoConfig);
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_EQ(l.decl.services[0].host, "127.0.0.1");
  EXPECT_EQ(l.decl.services[0].port, 8002);
}

TEST(ConfigLoader, LoadFile) {
  Declarative d;
  std::vector<std::string> errors;
  EXPECT_FALSE(load_file("/nonexistent/wasmgate.yaml", d, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "config '/nonexistent/wasmgate.yaml' field '-': cannot open file");
}

// Kong accepts an IPv6 literal with a port in a service url.
TEST(ConfigLoader, UrlWithBracketedIpv6AndPort) {
  Loaded l = load(std::string(kHeader) + "services:\n  - name: s\n    url: \"http://[::1]:8080/x\"\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_EQ(l.decl.services[0].host, "[::1]");
  EXPECT_EQ(l.decl.services[0].port, 8080);
  EXPECT_EQ(l.decl.services[0].path, "/x");
}

TEST(ConfigLoader, NullRecordsKeepDefaults) {
  // A record set to null (decK writes them) is unset: the balancer gets
  // Kong's defaults, and binding never reads into the null.
  Loaded l = load(std::string(kHeader) +
                  "upstreams:\n  - name: u\n    healthchecks: {active: null, passive: {healthy: null}}\n");
  ASSERT_TRUE(l.ok) << join(l.errors);
  EXPECT_EQ(l.decl.upstreams[0].healthchecks.active.concurrency, 10);
  EXPECT_EQ(l.decl.upstreams[0].healthchecks.passive.unhealthy_statuses, (std::vector<int>{429, 500, 503}));
}

// The schema engine against Kong 3.x's entity schemas: each field's default,
// bounds and message (kong/db/schema/entities/*.lua, typedefs.lua), the entity
// checks, Kong's error objects (kong/db/errors.lua), and stable ids.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/entity_schemas.h"
#include "config/errors.h"
#include "config/loader.h"
#include "config/schema.h"
#include "config/uuid.h"

using namespace wg::config;

namespace {

Value json(const char* text) { return Value::parse(text); }

// Validates `entity` as `type`; returns "field: message" per problem.
std::vector<std::string> problems(const std::string& type, Value entity, Value* out = nullptr) {
  std::vector<FieldError> errors;
  schema::validate(*entity_schema(type), entity, errors);
  std::vector<std::string> lines;
  for (const auto& e : errors) lines.push_back(e.field() + ": " + e.message);
  if (out != nullptr) *out = entity;
  return lines;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += "\n  " + e;
  return s;
}

Value minimal(const std::string& type) {
  if (type == "services") return json(R"({"name": "s", "host": "h"})");
  if (type == "routes") return json(R"({"name": "r", "paths": ["/"]})");
  if (type == "upstreams") return json(R"({"name": "u"})");
  return json(R"({"target": "10.0.0.1:80", "upstream": {"id": "a5e3f7a6-0c3f-4d5b-9a0e-3f5b6c7d8e9f"}})");
}

// Sets `path` ("a.b.c") in `v` to `value`.
void set_path(Value& v, const std::string& path, Value value) {
  Value* node = &v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) {
      (*node)[key] = std::move(value);
      return;
    }
    node = &(*node)[key];
    start = dot + 1;
  }
}

Value get_path(const Value& v, const std::string& path) {
  const Value* node = &v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    node = &node->at(key);
    if (dot == std::string::npos) return *node;
    start = dot + 1;
  }
}

}  // namespace

TEST(EntitySchemas, MinimalEntitiesAreValid) {
  for (const char* type : {"services", "routes", "upstreams", "targets"}) {
    EXPECT_TRUE(problems(type, minimal(type)).empty()) << type << join(problems(type, minimal(type)));
  }
}

TEST(EntitySchemas, DefaultsAreKongs) {
  struct Case {
    const char* type;
    const char* field;
    const char* dflt;  // JSON
  } cases[] = {
      {"services", "retries", "5"},
      {"services", "protocol", "\"http\""},
      {"services", "port", "80"},
      {"services", "connect_timeout", "60000"},
      {"services", "write_timeout", "60000"},
      {"services", "read_timeout", "60000"},
      {"services", "enabled", "true"},
      {"routes", "protocols", "[\"http\", \"https\"]"},
      {"routes", "https_redirect_status_code", "426"},
      {"routes", "regex_priority", "0"},
      {"routes", "strip_path", "true"},
      {"routes", "path_handling", "\"v0\""},
      {"routes", "preserve_host", "false"},
      {"routes", "request_buffering", "true"},
      {"routes", "response_buffering", "true"},
      {"upstreams", "algorithm", "\"round-robin\""},
      {"upstreams", "hash_on", "\"none\""},
      {"upstreams", "hash_fallback", "\"none\""},
      {"upstreams", "hash_on_cookie_path", "\"/\""},
      {"upstreams", "slots", "10000"},
      {"upstreams", "use_srv_name", "false"},
      {"upstreams", "healthchecks.threshold", "0"},
      {"upstreams", "healthchecks.active.type", "\"http\""},
      {"upstreams", "healthchecks.active.timeout", "1"},
      {"upstreams", "healthchecks.active.concurrency", "10"},
      {"upstreams", "healthchecks.active.http_path", "\"/\""},
      {"upstreams", "healthchecks.active.https_verify_certificate", "true"},
      {"upstreams", "healthchecks.active.healthy.interval", "0"},
      {"upstreams", "healthchecks.active.healthy.http_statuses", "[200, 302]"},
      {"upstreams", "healthchecks.active.healthy.successes", "0"},
      {"upstreams", "healthchecks.active.unhealthy.interval", "0"},
      {"upstreams", "healthchecks.active.unhealthy.http_statuses", "[429, 404, 500, 501, 502, 503, 504, 505]"},
      {"upstreams", "healthchecks.active.unhealthy.tcp_failures", "0"},
      {"upstreams", "healthchecks.active.unhealthy.timeouts", "0"},
      {"upstreams", "healthchecks.active.unhealthy.http_failures", "0"},
      {"upstreams", "healthchecks.passive.type", "\"http\""},
      {"upstreams", "healthchecks.passive.healthy.http_statuses",
       "[200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308]"},
      {"upstreams", "healthchecks.passive.healthy.successes", "0"},
      {"upstreams", "healthchecks.passive.unhealthy.http_statuses", "[429, 500, 503]"},
      {"upstreams", "healthchecks.passive.unhealthy.tcp_failures", "0"},
      {"targets", "weight", "100"},
  };
  for (const auto& c : cases) {
    Value out;
    auto errs = problems(c.type, minimal(c.type), &out);
    ASSERT_TRUE(errs.empty()) << join(errs);
    EXPECT_EQ(get_path(out, c.field), json(c.dflt)) << c.type << " " << c.field;
  }
}

TEST(EntitySchemas, FieldBoundsAndMessages) {
  struct Case {
    const char* type;
    const char* field;
    const char* value;  // JSON
    const char* error;  // "field: message"
  } cases[] = {
      {"services", "retries", "-1", "retries: value should be between 0 and 32767"},
      {"services", "retries", "32768", "retries: value should be between 0 and 32767"},
      {"services", "retries", "\"5\"", "retries: expected an integer"},
      {"services", "retries", "1.5", "retries: expected an integer"},
      {"services", "retries", "1e30", "retries: expected an integer"},  // integral, but no integer holds it
      {"services", "port", "65536", "port: value should be between 0 and 65535"},
      {"services", "port", "-1", "port: value should be between 0 and 65535"},
      {"services", "connect_timeout", "0", "connect_timeout: value should be between 1 and 2147483646"},
      {"services", "write_timeout", "2147483647", "write_timeout: value should be between 1 and 2147483646"},
      {"services", "read_timeout", "true", "read_timeout: expected an integer"},
      {"services", "protocol", "\"gopher\"",
       "protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"},
      {"services", "protocol", "\"tcp\"", "protocol: protocol 'tcp' is not supported yet"},
      {"services", "host", "\"\"", "host: length must be at least 1"},
      {"services", "host", "\"a b\"", "host: invalid value: a b"},
      {"services", "host", "5", "host: expected a string"},
      {"services", "path", "\"x\"", "path: should start with: /"},
      {"services", "path", "\"/a//b\"", "path: must not have empty segments"},
      {"services", "name", "\"a b\"",
       "name: invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"},
      {"services", "name", "\"a\\u00ff\"", ""},  // U+00FF: non-ascii UTF-8 is fine
      {"services", "enabled", "\"yes\"", "enabled: expected a boolean"},
      {"services", "tags", "\"t\"", "tags: expected a set"},
      {"services", "tags", "[1]", "tags: expected a string"},
      {"services", "colour", "\"red\"", "colour: unknown field"},
      {"services", "tls_verify", "true", ""},
      {"services", "tls_verify_depth", "65", "tls_verify_depth: value should be between 0 and 64"},
      {"services", "id", "\"not-a-uuid\"", "id: expected a valid UUID"},
      {"routes", "protocols", "[]", "protocols: length must be at least 1"},
      {"routes", "protocols", "[\"ftp\"]", "protocols: unknown protocol 'ftp'"},
      {"routes", "protocols", "[\"grpc\"]", "protocols: protocol 'grpc' is not supported yet"},
      {"routes", "https_redirect_status_code", "303",
       "https_redirect_status_code: expected one of: 426, 301, 302, 307, 308"},
      {"routes", "path_handling", "\"v2\"", "path_handling: expected one of: v0, v1"},
      {"routes", "regex_priority", "\"x\"", "regex_priority: expected an integer"},
      {"routes", "methods", "[\"get\"]", "methods: invalid value: get"},
      {"routes", "paths", "[\"a\"]", "paths: should start with: / (fixed path) or ~/ (regex path)"},
      {"routes", "paths", "[\"/a//b\"]", "paths: must not have empty segments"},
      {"routes", "paths", "[\"\"]", "paths: length must be at least 1"},
      {"routes", "hosts", "[\"*.a.*\"]", "hosts: invalid wildcard: must have at most one wildcard"},
      {"routes", "hosts", "[\"a.*.b\"]", "hosts: invalid wildcard: must be placed at leftmost or rightmost label"},
      {"routes", "headers", "{\"Host\": [\"x\"]}",
       "headers: cannot contain 'host' header, which must be specified in the 'hosts' attribute"},
      {"routes", "headers", "{\"x-a\": []}", "headers.x-a: length must be at least 1"},
      {"routes", "headers", "[]", "headers: expected a map"},
      {"routes", "strip_path", "1", "strip_path: expected a boolean"},
      {"upstreams", "slots", "9", "slots: value should be between 10 and 65536"},
      {"upstreams", "slots", "65537", "slots: value should be between 10 and 65536"},
      {"upstreams", "algorithm", "\"random\"",
       "algorithm: expected one of: consistent-hashing, least-connections, round-robin, latency"},
      {"upstreams", "hash_on", "\"foo\"",
       "hash_on: expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"},
      {"upstreams", "name", "\"10.0.0.1\"", "name: Invalid name ('10.0.0.1'); no ip addresses allowed"},
      {"upstreams", "name", "\"u:80\"", "name: Invalid name ('u:80'); no port allowed"},
      {"upstreams", "name", "\"u/x\"", "name: Invalid name ('u/x'); must be a valid hostname"},
      {"upstreams", "hash_on_header", "\"a b\"",
       "hash_on_header: bad header name 'a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"},
      {"upstreams", "healthchecks.threshold", "101", "healthchecks.threshold: value should be between 0 and 100"},
      {"upstreams", "healthchecks.active.timeout", "-1",
       "healthchecks.active.timeout: value should be between 0 and 65535"},
      {"upstreams", "healthchecks.active.concurrency", "0",
       "healthchecks.active.concurrency: value should be between 1 and 2147483647"},
      {"upstreams", "healthchecks.active.healthy.http_statuses", "[200, 99]",
       "healthchecks.active.healthy.http_statuses: value should be between 100 and 999"},
      {"upstreams", "healthchecks.active.unhealthy.tcp_failures", "256",
       "healthchecks.active.unhealthy.tcp_failures: value should be between 0 and 255"},
      {"upstreams", "healthchecks.passive.type", "\"udp\"",
       "healthchecks.passive.type: expected one of: tcp, http, https, grpc, grpcs"},
      {"upstreams", "healthchecks.active.bogus", "1", "healthchecks.active.bogus: unknown field"},
      {"targets", "weight", "65536", "weight: value should be between 0 and 65535"},
      {"targets", "weight", "-1", "weight: value should be between 0 and 65535"},
      {"targets", "target", "\":80\"", "target: Invalid target (':80'); not a valid hostname or ip address"},
      {"targets", "target", "\"h:99999\"", "target: Invalid target ('h:99999'); not a valid hostname or ip address"},
  };
  for (const auto& c : cases) {
    Value e = minimal(c.type);
    set_path(e, c.field, json(c.value));
    auto errs = problems(c.type, e);
    if (std::string(c.error).empty()) {
      EXPECT_TRUE(errs.empty()) << c.type << " " << c.field << join(errs);
      continue;
    }
    ASSERT_EQ(errs.size(), 1u) << c.type << " " << c.field << " = " << c.value << join(errs);
    EXPECT_EQ(errs[0], c.error) << c.type << " " << c.field << " = " << c.value;
  }
}

TEST(EntitySchemas, RequiredFields) {
  EXPECT_EQ(problems("services", json(R"({"name": "s"})")), std::vector<std::string>{"host: required field missing"});
  EXPECT_EQ(problems("upstreams", json("{}")), std::vector<std::string>{"name: required field missing"});
  EXPECT_EQ(problems("targets", json("{}")),
            (std::vector<std::string>{"upstream: required field missing", "target: required field missing"}));
  // Explicit null is unset: a required field is still missing.
  EXPECT_EQ(problems("services", json(R"({"host": null})")), std::vector<std::string>{"host: required field missing"});
  // 3.0 is an integer, and is stored as one.
  Value out;
  EXPECT_TRUE(problems("services", json(R"({"host": "h", "port": 8080.0})"), &out).empty());
  EXPECT_TRUE(out["port"].is_number_integer());
}

TEST(EntitySchemas, UpstreamHashChecks) {
  auto errs = problems("upstreams", json(R"({"name": "u", "hash_on": "header"})"));
  EXPECT_EQ(errs, (std::vector<std::string>{"-: failed conditional validation given value of field 'hash_on'",
                                            "hash_on_header: required field missing"}));
  errs = problems("upstreams", json(R"({"name": "u", "hash_fallback": "ip"})"));
  EXPECT_EQ(errs, (std::vector<std::string>{"-: failed conditional validation given value of field 'hash_on'",
                                            "hash_fallback: expected one of: none"}));
  errs = problems("upstreams", json(R"({"name": "u", "hash_on": "ip", "hash_fallback": "ip"})"));
  EXPECT_EQ(errs.back(), "hash_fallback: expected one of: none, consumer, header, cookie, path, query_arg, uri_capture");
  errs = problems("upstreams", json(R"({"name": "u", "hash_on": "header", "hash_on_header": "x",
                                        "hash_fallback": "header", "hash_fallback_header": "x"})"));
  EXPECT_EQ(errs, std::vector<std::string>{
                      "-: values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"});
  EXPECT_TRUE(problems("upstreams", json(R"({"name": "u", "hash_on": "cookie", "hash_on_cookie": "c"})")).empty());
  errs = problems("upstreams", json(R"({"name": "u", "hash_on": "cookie", "hash_on_cookie": "c",
                                        "hash_fallback": "ip"})"));
  EXPECT_EQ(errs.back(), "hash_fallback: expected one of: none");
  errs = problems("upstreams", json(R"({"name": "u", "hash_on": "query_arg"})"));
  EXPECT_EQ(errs.back(), "hash_on_query_arg: required field missing");
  errs = problems("upstreams", json(R"({"name": "u", "hash_on": "uri_capture"})"));
  EXPECT_EQ(errs.back(), "hash_on_uri_capture: required field missing");
}

TEST(EntitySchemas, RouteChecks) {
  EXPECT_EQ(problems("routes", json(R"({"protocols": ["http"]})")),
            std::vector<std::string>{"-: must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is "
                                     "'http'"});
  EXPECT_EQ(problems("routes", json(R"({})")),
            std::vector<std::string>{"-: must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when "
                                     "'protocols' is 'https'"});
  EXPECT_TRUE(problems("routes", json(R"({"protocols": ["https"], "snis": ["a.test"]})")).empty());
  EXPECT_EQ(problems("routes", json(R"({"paths": ["/"], "sources": [{"ip": "1.2.3.4"}]})")),
            std::vector<std::string>{"sources: cannot set 'sources' when 'protocols' is 'http' or 'https'"});
  // A stream protocol is named as the problem, not the stream fields.
  EXPECT_EQ(problems("routes", json(R"({"protocols": ["tcp"], "destinations": [{"port": 80}]})")),
            std::vector<std::string>{"protocols: protocol 'tcp' is not supported yet"});
}

// The generic checks, on a schema made for the test.
TEST(SchemaEngine, EntityCheckKinds) {
  using schema::EntityCheck;
  using schema::Field;
  using schema::Type;
  schema::Schema s;
  s.name = "things";
  s.fields = {Field("a", Type::String), Field("b", Type::String), Field("c", Type::String), Field("d", Type::String)};
  auto run = [&](EntityCheck check, const char* entity) {
    s.checks = {check};
    Value v = json(entity);
    std::vector<FieldError> errors;
    schema::validate(s, v, errors);
    std::vector<std::string> out;
    for (const auto& e : errors) out.push_back(e.field() + ": " + e.message);
    return out;
  };
  EntityCheck c;
  c.kind = EntityCheck::Kind::AtLeastOneOf;
  c.fields = {"a", "b"};
  EXPECT_EQ(run(c, R"({"c": "x"})"),
            std::vector<std::string>{"-: at least one of these fields must be non-empty: 'a', 'b'"});
  EXPECT_TRUE(run(c, R"({"b": "x"})").empty());
  c.kind = EntityCheck::Kind::OnlyOneOf;
  EXPECT_EQ(run(c, R"({"a": "x", "b": "y"})"),
            std::vector<std::string>{"-: exactly one of these fields must be non-empty: 'a', 'b'"});
  EXPECT_TRUE(run(c, R"({"a": "x"})").empty());
  c.kind = EntityCheck::Kind::MutuallyRequired;
  EXPECT_EQ(run(c, R"({"a": "x"})"), std::vector<std::string>{"-: all or none of these fields must be set: 'a', 'b'"});
  EXPECT_TRUE(run(c, R"({})").empty());
  EntityCheck sets;
  sets.kind = EntityCheck::Kind::MutuallyExclusiveSets;
  sets.sets = {{"a", "b"}, {"c", "d"}};
  EXPECT_EQ(run(sets, R"({"a": "x", "d": "y"})"),
            std::vector<std::string>{"-: these sets are mutually exclusive: ('a', 'b'), ('c', 'd')"});
  EXPECT_TRUE(run(sets, R"({"a": "x", "b": "y"})").empty());
  EntityCheck cond;
  cond.kind = EntityCheck::Kind::ConditionalAtLeastOneOf;
  cond.if_field = "a";
  cond.if_match.one_of = {"on"};
  cond.fields = {"c", "d"};
  EXPECT_EQ(run(cond, R"({"a": "on"})"),
            std::vector<std::string>{"-: at least one of these fields must be non-empty: 'c', 'd'"});
  EXPECT_TRUE(run(cond, R"({"a": "off"})").empty());
  // A check whose field already failed is skipped.
  s.fields[0] = Field("a", Type::Integer);
  EXPECT_EQ(run(c, R"({"a": "x", "b": "y"})"), std::vector<std::string>{"a: expected an integer"});
}

TEST(KongErrors, SchemaViolationShapes) {
  std::vector<FieldError> errors;
  Value svc = json(R"({"port": 70000})");
  schema::validate(*entity_schema("services"), svc, errors);
  Value e = schema_violation(errors);
  EXPECT_EQ(e["code"], 2);
  EXPECT_EQ(e["name"], "schema violation");
  EXPECT_EQ(e["message"], "2 schema violations (host: required field missing; port: value should be between 0 and 65535)");
  EXPECT_EQ(nlohmann::json::parse(e["fields"].dump()),
            nlohmann::json::parse(R"({"port": "value should be between 0 and 65535", "host": "required field missing"})"));

  errors.clear();
  Value one = json(R"({"host": "h", "protocol": "gopher"})");
  schema::validate(*entity_schema("services"), one, errors);
  EXPECT_EQ(schema_violation(errors)["message"],
            "schema violation (protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)");

  errors.clear();
  Value up = json(R"({"name": "u", "hash_on": "header", "healthchecks": {"active": {"timeout": -1}}})");
  schema::validate(*entity_schema("upstreams"), up, errors);
  e = schema_violation(errors);
  EXPECT_EQ(e["fields"]["@entity"], json(R"(["failed conditional validation given value of field 'hash_on'"])"));
  EXPECT_EQ(e["fields"]["hash_on_header"], "required field missing");
  EXPECT_EQ(e["fields"]["healthchecks"]["active"]["timeout"], "value should be between 0 and 65535");
  EXPECT_EQ(e["message"],
            "3 schema violations (failed conditional validation given value of field 'hash_on'; hash_on_header: "
            "required field missing; healthchecks.active.timeout: value should be between 0 and 65535)");

  errors.clear();
  Value route = json(R"({"paths": ["/", "a"]})");
  schema::validate(*entity_schema("routes"), route, errors);
  EXPECT_EQ(schema_violation(errors)["fields"]["paths"],
            json(R"J([null, "should start with: / (fixed path) or ~/ (regex path)"])J"));
}

TEST(KongErrors, OtherCodes) {
  Value u = unique_violation("name", "s");
  EXPECT_EQ(u["code"], 5);
  EXPECT_EQ(u["name"], "unique constraint violation");
  EXPECT_EQ(u["message"], "UNIQUE violation detected on '{name=\"s\"}'");
  EXPECT_EQ(u["fields"], json(R"({"name": "s"})"));
  Value f = foreign_key_violation("service", "services", "0c51a34b-17a7-54b6-968a-4a8d05539b87");
  EXPECT_EQ(f["code"], 4);
  EXPECT_EQ(f["name"], "foreign key violation");
  EXPECT_EQ(f["message"], "the foreign key '{id=\"0c51a34b-17a7-54b6-968a-4a8d05539b87\"}' does not reference an "
                          "existing 'services' entity.");
  EXPECT_EQ(f["fields"], json(R"({"service": {"id": "0c51a34b-17a7-54b6-968a-4a8d05539b87"}})"));
  EXPECT_EQ(invalid_primary_key("x")["code"], 1);
  EXPECT_EQ(not_found("x")["message"], "could not find the entity with primary key '{id=\"x\"}'");
  Problem p{"service", "s", FieldError{{PathPart{"port"}}, "value should be between 0 and 65535"}};
  Value d = invalid_declarative({p});
  EXPECT_EQ(d["code"], 14);
  EXPECT_EQ(d["name"], "invalid declarative configuration");
  EXPECT_EQ(d["flattened_errors"][0]["field"], "port");
  EXPECT_EQ(d["flattened_errors"][0]["entity_type"], "service");
}

namespace {

Normalized normalized(const std::string& text, std::vector<std::string>* errors = nullptr) {
  Declarative d;
  std::vector<std::string> errs;
  Normalized n;
  load_text(text, d, errs, &n);
  if (errors != nullptr) *errors = errs;
  return n;
}

}  // namespace

TEST(StableIds, KongsDbLessIds) {
  EXPECT_EQ(entity_uuid("services", "httpbin"), "0c51a34b-17a7-54b6-968a-4a8d05539b87");
  EXPECT_EQ(entity_uuid("services", "foo"), "2933fbcc-9d7c-54a7-a984-fe2bde836cea");
  EXPECT_EQ(entity_uuid("routes", "foo"), "fb94a9b8-3f5e-525c-b38d-61aa1cbaa69c");
  EXPECT_EQ(entity_uuid("upstreams", "foo"), "fd56258d-1040-5e29-a78a-8f4d9082ec6f");
  Normalized n = normalized(R"(_format_version: "3.0"
upstreams:
  - name: foo
targets:
  - target: 127.0.0.1:8080
    upstream: foo
services:
  - name: foo
    host: foo
    routes:
      - name: foo
        paths: [/]
)");
  ASSERT_TRUE(n.problems.empty());
  EXPECT_EQ(n.config["services"][0]["id"], "2933fbcc-9d7c-54a7-a984-fe2bde836cea");
  EXPECT_EQ(n.config["routes"][0]["id"], "fb94a9b8-3f5e-525c-b38d-61aa1cbaa69c");
  EXPECT_EQ(n.config["routes"][0]["service"]["id"], "2933fbcc-9d7c-54a7-a984-fe2bde836cea");
  EXPECT_EQ(n.config["upstreams"][0]["id"], "fd56258d-1040-5e29-a78a-8f4d9082ec6f");
  EXPECT_EQ(n.config["targets"][0]["id"], "5d582786-1506-5fcd-8f64-27b52616dc89");
  EXPECT_EQ(n.config["targets"][0]["upstream"]["id"], "fd56258d-1040-5e29-a78a-8f4d9082ec6f");
}

TEST(StableIds, SameFileSameIdsAndDumpLoadsBack) {
  const std::string file = R"(_format_version: "3.0"
services:
  - host: a
    routes:
      - paths: [/a]
      - paths: [/b]
  - name: named
    id: 6d1ea2b2-5b0a-4c6f-9d2e-0a0c1f0e9b11
    host: b
upstreams:
  - name: up
    targets:
      - target: 10.0.0.1
)";
  Normalized a = normalized(file), b = normalized(file);
  ASSERT_TRUE(a.problems.empty());
  EXPECT_EQ(a.config, b.config);
  EXPECT_EQ(a.config["services"][1]["id"], "6d1ea2b2-5b0a-4c6f-9d2e-0a0c1f0e9b11");
  EXPECT_NE(a.config["routes"][0]["id"], a.config["routes"][1]["id"]);
  // The normalized form is itself a valid file with the same meaning.
  Normalized again = normalized(a.config.dump());
  ASSERT_TRUE(again.problems.empty());
  EXPECT_EQ(again.config, a.config);
}

TEST(StableIds, DuplicatesAndBadIds) {
  std::vector<std::string> errors;
  normalized(R"(_format_version: "3.0"
services:
  - {name: a, host: h, id: 6d1ea2b2-5b0a-4c6f-9d2e-0a0c1f0e9b11}
  - {name: b, host: h, id: 6d1ea2b2-5b0a-4c6f-9d2e-0a0c1f0e9b11}
  - {name: c, host: h, id: nope}
)",
             &errors);
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "service 'c' field 'id': expected a valid UUID",
                        "service 'b' field 'id': uniqueness violation: 'services' entity with primary key set to "
                        "'6d1ea2b2-5b0a-4c6f-9d2e-0a0c1f0e9b11' already declared"}));
}

TEST(Formats, OlderFormatsTranslateRegexPaths) {
  for (const char* version : {"\"2.1\"", "\"1.1\"", "2.1"}) {
    Normalized n = normalized(std::string("_format_version: ") + version + R"(
routes:
  - name: r
    paths: ["/users/\\d+", "/plain-path_1.2~x", "/a%20b"]
)");
    ASSERT_TRUE(n.problems.empty()) << version;
    EXPECT_EQ(n.config["routes"][0]["paths"], json(R"(["~/users/\\d+", "/plain-path_1.2~x", "/a%20b"])")) << version;
    ASSERT_EQ(n.warnings.size(), 1u);
    EXPECT_NE(n.warnings[0].find("/users/\\d+"), std::string::npos) << n.warnings[0];
  }
  // 3.0 means what it says: no translation.
  std::vector<std::string> errors;
  normalized("_format_version: 3.0\nroutes:\n  - {name: r, paths: [\"/users/\\\\d+\"]}\n", &errors);
  EXPECT_TRUE(errors.empty());
}

TEST(Formats, WhatRealFilesCarry) {
  std::vector<std::string> errors;
  Normalized n = normalized(R"(_format_version: "3.0"
_comment: top
_ignore: [1, {a: b}]
_konnect: {control_plane_name: x}
_info: {select_tags: [a], defaults: {}}
services:
  - name: s
    host: h
    _comment: a service
    _ignore: [x]
    routes:
      - name: 测试中文
        paths: [/zh]
        _comment: nested
)",
                            &errors);
  ASSERT_TRUE(errors.empty()) << join(errors);
  EXPECT_FALSE(n.config["services"][0].contains("_comment"));
  EXPECT_EQ(n.config["routes"][0]["name"], "测试中文");
  Value bad = Value::object();
  bad["name"] = std::string("bad\xff");
  bad["host"] = "h";
  EXPECT_EQ(problems("services", bad),
            std::vector<std::string>{"name: invalid utf-8 character sequence detected at position 4"});
}

TEST(Formats, EveryRefusedEntityAndPluginNamed) {
  std::vector<std::string> errors;
  normalized(R"(_format_version: "3.0"
oauth2_credentials:
  - name: alice-app
  - name: bob-app
plugins:
  - name: session
  - name: my-custom
certificates:
  - {cert: x, key: y}
services:
  - name: s
    host: h
    plugins: [{name: oauth2}]
    routes:
      - name: r
        paths: [/]
        plugins: [{name: ldap-auth}]
)",
             &errors);
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "certificate '0' field 'cert': invalid certificate: unable to load certificate",
                        "oauth2_credential '0' field '-': entity type 'oauth2_credentials' is not supported yet",
                        "oauth2_credential '1' field '-': entity type 'oauth2_credentials' is not supported yet",
                        "plugin 'ldap-auth' field 'name': plugin 'ldap-auth' is not supported yet",
                        "plugin 'my-custom' field 'name': plugin 'my-custom' not found",
                        "plugin 'oauth2' field 'name': plugin 'oauth2' is not supported yet",
                        "plugin 'session' field 'name': plugin 'session' is not supported yet",
                    }));
}

TEST(PluginSchemas, RegisteredSchemaValidatesAndDefaultsConfig) {
  using schema::Field;
  using schema::Type;
  register_plugin_schema("schema-test-plugin",
                         {Field("config", Type::Record)
                              .with({Field("limit", Type::Integer).def(5).range(1, 10),
                                     Field("mode", Type::String).def("a").choices({"a", "b"})})});
  Normalized n = normalized(R"(_format_version: "3.0"
services:
  - name: s
    host: h
    plugins:
      - name: schema-test-plugin
        config: {mode: b}
)");
  ASSERT_TRUE(n.problems.empty());
  const Value& p = n.config["plugins"][0];
  EXPECT_EQ(p["config"], json(R"({"mode": "b", "limit": 5})"));
  EXPECT_EQ(p["service"]["id"], n.config["services"][0]["id"]);
  EXPECT_EQ(p["enabled"], true);
  EXPECT_TRUE(is_uuid(p["id"].get<std::string>()));
  std::vector<std::string> errors;
  normalized("_format_version: \"3.0\"\nplugins:\n  - name: schema-test-plugin\n    config: {limit: 11, x: 1}\n",
             &errors);
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "plugin 'schema-test-plugin' field 'config.limit': value should be between 1 and 10",
                        "plugin 'schema-test-plugin' field 'config.x': unknown field"}));
}

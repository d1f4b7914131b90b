#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "router/regex.h"

namespace wg::config {

const char* const kDemoConfig = R"(_format_version: "3.0"
services:
  - name: demo
    url: http://127.0.0.1:8002
    routes:
      - name: demo
        paths: ["/demo"]
        filter_chains:
          - name: demo
            filters:
              - name: demo
                config: "hello from the demo wasm filter"
)";

namespace {

// Entity types Kong knows that this gateway does not serve yet. A file may
// list them empty (decK does), but entries are refused by name.
const std::set<std::string> kNotYetEntities = {
    "consumers", "plugins", "certificates", "snis", "ca_certificates",
    "vaults", "key_sets", "keys", "parameters", "keyauth_credentials",
    "basicauth_credentials", "hmacauth_credentials", "jwt_secrets", "oauth2_credentials", "acls",
};

// One entity being checked: collects problems under its display name.
class Entity {
 public:
  Entity(std::string kind, std::string label, std::vector<std::string>& errors)
      : kind_(std::move(kind)), label_(std::move(label)), errors_(errors) {}
  void fail(const std::string& field, const std::string& reason) {
    errors_.push_back(kind_ + " '" + label_ + "' field '" + field + "': " + reason);
    ok_ = false;
  }
  bool ok() const { return ok_; }
  void relabel(const std::string& label) { label_ = label; }

  bool get_string(const YAML::Node& n, const std::string& field, std::string& out) {
    if (!n.IsScalar()) {
      fail(field, "expected a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }
  bool get_int(const YAML::Node& n, const std::string& field, int lo, int hi, int& out) {
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v) ||
        n.Scalar().find_first_not_of("-0123456789") != std::string::npos) {
      fail(field, "expected an integer");
      return false;
    }
    if (v < lo || v > hi) {
      fail(field, "value should be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return false;
    }
    out = static_cast<int>(v);
    return true;
  }
  bool get_number(const YAML::Node& n, const std::string& field, double lo, double hi, double& out) {
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, out)) {
      fail(field, "expected a number");
      return false;
    }
    if (out < lo || out > hi) {
      fail(field, "value should be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return false;
    }
    return true;
  }
  bool get_ints(const YAML::Node& n, const std::string& field, int lo, int hi, std::vector<int>& out) {
    if (!n.IsSequence()) {
      fail(field, "expected an array of integers");
      return false;
    }
    out.clear();
    for (const auto& e : n) {
      int v = 0;
      if (!get_int(e, field, lo, hi, v)) return false;
      out.push_back(v);
    }
    return true;
  }
  bool get_bool(const YAML::Node& n, const std::string& field, bool& out) {
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, out)) {
      fail(field, "expected a boolean");
      return false;
    }
    return true;
  }
  bool get_strings(const YAML::Node& n, const std::string& field, std::vector<std::string>& out) {
    if (n.IsNull()) return true;
    if (!n.IsSequence()) {
      fail(field, "expected an array of strings");
      return false;
    }
    for (const auto& e : n) {
      if (!e.IsScalar()) {
        fail(field, "expected an array of strings");
        return false;
      }
      out.push_back(e.Scalar());
    }
    return true;
  }
  // Accepts a field we do not implement only when it holds Kong's default,
  // so decK dumps load, and refuses any value that would change behaviour.
  void only_default(const YAML::Node& n, const std::string& field, const std::string& dflt) {
    if (n.IsNull()) return;
    if (!n.IsScalar() || n.Scalar() != dflt) {
      fail(field, "not supported yet (only the default '" + dflt + "' is accepted)");
    }
  }
  void only_empty(const YAML::Node& n, const std::string& field) {
    if (n.IsNull()) return;
    if ((n.IsSequence() || n.IsMap()) && n.size() == 0) return;
    fail(field, "not supported yet");
  }

 private:
  std::string kind_;
  std::string label_;
  std::vector<std::string>& errors_;
  bool ok_ = true;
};

bool valid_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Kong's host rules: a name, optionally with ":port", with at most one
// wildcard, as the whole leftmost or rightmost label.
bool valid_route_host(const std::string& h, std::string* why) {
  if (h.empty()) {
    *why = "empty host";
    return false;
  }
  size_t stars = std::count(h.begin(), h.end(), '*');
  if (stars > 1) {
    *why = "only one wildcard is allowed";
    return false;
  }
  if (stars == 1) {
    bool leading = h.rfind("*.", 0) == 0;
    bool trailing = h.size() >= 2 && h.compare(h.size() - 2, 2, ".*") == 0;
    if (!leading && !trailing) {
      *why = "wildcard must be leftmost or rightmost character";
      return false;
    }
  }
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '*' || c == ':' ||
              c == '_' || c == '[' || c == ']';
    if (!ok) {
      *why = "invalid character";
      return false;
    }
  }
  return true;
}

// Re-serializes a YAML node as JSON (filter configs given as structures).
std::string to_json(const YAML::Node& n) {
  if (n.IsNull()) return "null";
  if (n.IsScalar()) {
    const std::string& v = n.Scalar();
    // Plain (unquoted) scalars that look like JSON literals stay literals.
    if (n.Tag() == "?") {
      if (v == "true" || v == "false" || v == "null") return v;
      char* end = nullptr;
      std::strtod(v.c_str(), &end);
      if (!v.empty() && end != nullptr && *end == '\0') return v;
    }
    std::string out = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out.push_back(c);
      }
    }
    return out + "\"";
  }
  std::string out;
  if (n.IsSequence()) {
    out = "[";
    bool first = true;
    for (const auto& e : n) {
      if (!first) out += ",";
      out += to_json(e);
      first = false;
    }
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (const auto& kv : n) {
    if (!first) out += ",";
    out += to_json(YAML::Node(kv.first.Scalar())) + ":" + to_json(kv.second);
    first = false;
  }
  return out + "}";
}

std::string label_of(const YAML::Node& n, size_t index) {
  if (n.IsMap() && n["name"] && n["name"].IsScalar()) return n["name"].Scalar();
  return std::to_string(index);
}

// Splits `url` into protocol, host, port and path, like Kong's shorthand.
void apply_url(Entity& e, const std::string& url, Service& s) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    e.fail("url", "missing scheme");
    return;
  }
  s.protocol = lower(url.substr(0, scheme_end));
  std::string rest = url.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  s.path = slash == std::string::npos ? "" : rest.substr(slash);
  size_t colon = authority.rfind(':');
  // "[v6]" has colons inside the brackets: only one after "]" is a port.
  size_t bracket = authority.find(']');
  if (bracket != std::string::npos && (colon == std::string::npos || colon < bracket)) colon = std::string::npos;
  if (colon != std::string::npos) {
    s.host = authority.substr(0, colon);
    std::string port = authority.substr(colon + 1);
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) > 65535) {
      e.fail("url", "invalid port '" + port + "'");
      return;
    }
    s.port = std::stoi(port);
  } else {
    s.host = authority;
    s.port = s.protocol == "https" ? 443 : 80;
  }
  if (s.host.empty()) e.fail("url", "missing host");
}

void check_protocol(Entity& e, const std::string& field, const std::string& p) {
  static const std::set<std::string> kong = {"http", "https", "grpc", "grpcs", "tcp",
                                              "tls", "tls_passthrough", "udp", "ws", "wss"};
  if (!kong.count(p)) {
    e.fail(field, "expected one of: http, https, grpc, grpcs, tcp, tls, tls_passthrough, udp");
  } else if (p != "http") {
    e.fail(field, "protocol '" + p + "' is not supported yet");
  }
}

class Loader {
 public:
  Loader(Declarative& out, std::vector<std::string>& errors) : out_(out), errors_(errors) {}

  void load(const YAML::Node& root);

 private:
  void load_service(const YAML::Node& n, size_t index);
  void load_upstream(const YAML::Node& n, size_t index);
  void load_target(const YAML::Node& n, const std::string& label, Upstream* parent);
  void load_healthchecks(Entity& e, const YAML::Node& n, Healthchecks& hc);
  void load_filter_chain(const YAML::Node& n, const std::string& label, int service, int route);
  void load_nested_chains(Entity& e, const YAML::Node& v, int service, int route);
  struct PendingChain {
    size_t chain;
    std::string service_ref, route_ref, label;
  };
  std::vector<PendingChain> pending_chains_;
  void load_route(const YAML::Node& n, const std::string& label, int parent_service);
  void resolve_route_services();
  void load_route_headers(Entity& e, const YAML::Node& v, Route& r);

  Declarative& out_;
  std::vector<std::string>& errors_;
  // Route service references, resolved once every service is known.
  struct PendingRef {
    size_t route;
    std::string ref;
    std::string label;
  };
  std::vector<PendingRef> pending_;
};

void Loader::load(const YAML::Node& root) {
  Entity top("config", "root", errors_);
  if (!root.IsMap()) {
    top.fail("-", "expected a mapping with _format_version, services, routes, ...");
    return;
  }
  const YAML::Node version = root["_format_version"];
  if (!version) {
    top.fail("_format_version", "required field missing");
  } else if (!version.IsScalar() || version.Scalar() != "3.0") {
    top.fail("_format_version", "unsupported version (expected \"3.0\")");
  }
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    const YAML::Node& val = kv.second;
    if (key == "_format_version" || key == "_transform" || key == "_workspace" || key == "_comment" ||
        key == "_info") {
      continue;
    }
    if (key == "services" || key == "routes" || key == "upstreams" || key == "targets" || key == "filter_chains") {
      if (!val.IsNull() && !val.IsSequence()) top.fail(key, "expected an array");
      continue;
    }
    if (kNotYetEntities.count(key)) {
      if (!val.IsNull() && !(val.IsSequence() && val.size() == 0)) {
        Entity e(key, std::to_string(0), errors_);
        e.relabel(val.IsSequence() ? label_of(val[0], 0) : "0");
        e.fail("-", "entity type '" + key + "' is not supported yet");
      }
      continue;
    }
    top.fail(key, "unknown entity type");
  }
  if (root["upstreams"] && root["upstreams"].IsSequence()) {
    size_t i = 0;
    for (const auto& u : root["upstreams"]) load_upstream(u, i++);
  }
  if (root["targets"] && root["targets"].IsSequence()) {
    size_t i = 0;
    for (const auto& t : root["targets"]) {
      std::string label = t.IsMap() && t["target"] && t["target"].IsScalar() ? t["target"].Scalar() : std::to_string(i);
      load_target(t, label, nullptr);
      ++i;
    }
  }
  if (root["services"] && root["services"].IsSequence()) {
    size_t i = 0;
    for (const auto& s : root["services"]) load_service(s, i++);
  }
  if (root["filter_chains"] && root["filter_chains"].IsSequence()) {
    size_t i = 0;
    for (const auto& c : root["filter_chains"]) {
      load_filter_chain(c, label_of(c, i), -1, -1);
      ++i;
    }
  }
  if (root["routes"] && root["routes"].IsSequence()) {
    size_t i = 0;
    for (const auto& r : root["routes"]) {
      load_route(r, label_of(r, i), -1);
      ++i;
    }
  }
  resolve_route_services();
}


void Loader::load_upstream(const YAML::Node& n, size_t index) {
  Entity e("upstream", label_of(n, index), errors_);
  if (!n.IsMap()) {
    e.fail("-", "expected a mapping");
    return;
  }
  Upstream u;
  auto one_of = [&](const YAML::Node& v, const std::string& f, std::string& out, std::set<std::string> allowed) {
    if (!e.get_string(v, f, out)) return;
    if (!allowed.count(out)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      e.fail(f, "expected one of: " + list);
    }
  };
  const std::set<std::string> hash_sources = {"none", "consumer", "ip", "header", "cookie", "path", "query_arg",
                                              "uri_capture"};
  for (const auto& kv : n) {
    const std::string f = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (f == "name") {
      e.get_string(v, f, u.name);
    } else if (f == "id") {
      e.get_string(v, f, u.id);
    } else if (f == "algorithm") {
      one_of(v, f, u.algorithm, {"round-robin", "consistent-hashing", "least-connections", "latency"});
    } else if (f == "hash_on") {
      one_of(v, f, u.hash_on, hash_sources);
    } else if (f == "hash_fallback") {
      one_of(v, f, u.hash_fallback, hash_sources);
    } else if (f == "hash_on_header") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_on_header);
    } else if (f == "hash_fallback_header") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_fallback_header);
    } else if (f == "hash_on_cookie") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_on_cookie);
    } else if (f == "hash_on_cookie_path") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_on_cookie_path);
    } else if (f == "hash_on_query_arg") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_on_query_arg);
    } else if (f == "hash_fallback_query_arg") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_fallback_query_arg);
    } else if (f == "hash_on_uri_capture") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_on_uri_capture);
    } else if (f == "hash_fallback_uri_capture") {
      if (!v.IsNull()) e.get_string(v, f, u.hash_fallback_uri_capture);
    } else if (f == "slots") {
      e.get_int(v, f, 10, 65536, u.slots);
    } else if (f == "host_header") {
      if (!v.IsNull()) e.get_string(v, f, u.host_header);
    } else if (f == "healthchecks") {
      load_healthchecks(e, v, u.healthchecks);
    } else if (f == "tags") {
      e.get_strings(v, f, u.tags);
    } else if (f == "use_srv_name") {
      e.only_default(v, f, "false");
    } else if (f == "client_certificate") {
      e.only_empty(v, f);
    } else if (f == "targets" || f == "created_at" || f == "updated_at") {
    } else {
      e.fail(f, "unknown field");
    }
  }
  if (u.name.empty()) e.fail("name", "required field missing");
  // Kong's entity checks: each hash source needs its parameter, and the
  // fallback must differ from the primary source.
  auto needs = [&](const std::string& on, const std::string& field_on, const std::string& header,
                   const std::string& cookie, const std::string& query, const std::string& capture) {
    if (on == "header" && header.empty()) e.fail(field_on + "_header", "required when '" + field_on + "' is 'header'");
    if (on == "cookie" && cookie.empty()) e.fail("hash_on_cookie", "required when '" + field_on + "' is 'cookie'");
    if (on == "query_arg" && query.empty()) e.fail(field_on + "_query_arg", "required when '" + field_on + "' is 'query_arg'");
    if (on == "uri_capture" && capture.empty())
      e.fail(field_on + "_uri_capture", "required when '" + field_on + "' is 'uri_capture'");
  };
  needs(u.hash_on, "hash_on", u.hash_on_header, u.hash_on_cookie, u.hash_on_query_arg, u.hash_on_uri_capture);
  needs(u.hash_fallback, "hash_fallback", u.hash_fallback_header, u.hash_on_cookie, u.hash_fallback_query_arg,
        u.hash_fallback_uri_capture);
  if (u.hash_on == "none" && u.hash_fallback != "none") e.fail("hash_fallback", "must be 'none' when 'hash_on' is 'none'");
  if (u.hash_on == "cookie" && u.hash_fallback != "none") {
    e.fail("hash_fallback", "must be 'none' when 'hash_on' is 'cookie'");
  }
  if (u.hash_on != "none" && u.hash_on == u.hash_fallback && u.hash_on != "header" && u.hash_on != "query_arg" &&
      u.hash_on != "uri_capture") {
    e.fail("hash_fallback", "cannot be the same as 'hash_on'");
  }
  for (const auto& other : out_.upstreams) {
    if (other.name == u.name) e.fail("name", "duplicate upstream name '" + u.name + "'");
  }
  out_.upstreams.push_back(u);
  if (n["targets"]) {
    if (!n["targets"].IsSequence()) {
      e.fail("targets", "expected an array");
      return;
    }
    size_t i = 0;
    for (const auto& t : n["targets"]) {
      std::string label = t.IsMap() && t["target"] && t["target"].IsScalar() ? t["target"].Scalar() : std::to_string(i);
      load_target(t, label, &out_.upstreams.back());
      ++i;
    }
  }
}

void Loader::load_target(const YAML::Node& n, const std::string& label, Upstream* parent) {
  Entity e("target", label, errors_);
  if (!n.IsMap()) {
    e.fail("-", "expected a mapping");
    return;
  }
  Target t;
  std::string upstream_ref;
  bool has_target = false;
  for (const auto& kv : n) {
    const std::string f = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (f == "target") {
      std::string text;
      if (!e.get_string(v, f, text)) continue;
      has_target = true;
      // host, host:port, [v6] or [v6]:port; Kong's default port is 8000.
      std::string host = text, port;
      if (!text.empty() && text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string::npos) {
          e.fail(f, "invalid target '" + text + "'");
          continue;
        }
        host = text.substr(1, close - 1);
        if (close + 1 < text.size()) {
          if (text[close + 1] != ':') {
            e.fail(f, "invalid target '" + text + "'");
            continue;
          }
          port = text.substr(close + 2);
        }
      } else if (size_t colon = text.rfind(':'); colon != std::string::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
      }
      if (host.empty()) e.fail(f, "invalid target '" + text + "': missing host");
      t.host = host;
      if (!port.empty()) {
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) > 65535 ||
            std::stoi(port) == 0) {
          e.fail(f, "invalid target '" + text + "': invalid port");
        } else {
          t.port = std::stoi(port);
        }
      }
    } else if (f == "weight") {
      e.get_int(v, f, 0, 65535, t.weight);
    } else if (f == "upstream") {
      if (parent != nullptr) {
        e.fail(f, "cannot be set on a target nested under an upstream");
      } else if (v.IsMap() && v["name"] && v["name"].IsScalar()) {
        upstream_ref = v["name"].Scalar();
      } else if (v.IsMap() && v["id"] && v["id"].IsScalar()) {
        upstream_ref = v["id"].Scalar();
      } else if (v.IsScalar()) {
        upstream_ref = v.Scalar();
      } else {
        e.fail(f, "expected an upstream name or id");
      }
    } else if (f == "id") {
      e.get_string(v, f, t.id);
    } else if (f == "tags") {
      e.get_strings(v, f, t.tags);
    } else if (f == "created_at" || f == "updated_at") {
    } else {
      e.fail(f, "unknown field");
    }
  }
  if (!has_target) e.fail("target", "required field missing");
  if (parent == nullptr) {
    for (auto& u : out_.upstreams) {
      if (u.name == upstream_ref || (!u.id.empty() && u.id == upstream_ref)) parent = &u;
    }
    if (parent == nullptr) {
      e.fail("upstream", upstream_ref.empty() ? "required field missing" : "upstream '" + upstream_ref + "' does not exist");
      return;
    }
  }
  for (const auto& other : parent->targets) {
    if (other.host == t.host && other.port == t.port) {
      e.fail("target", "duplicate target '" + label + "' in upstream '" + parent->name + "'");
    }
  }
  parent->targets.push_back(t);
}

void Loader::load_healthchecks(Entity& e, const YAML::Node& n, Healthchecks& hc) {
  if (n.IsNull()) return;
  if (!n.IsMap()) {
    e.fail("healthchecks", "expected a mapping");
    return;
  }
  // Walks a nested map, giving each leaf its dotted field name.
  auto each = [&](const YAML::Node& m, const std::string& prefix, auto&& fn) {
    if (m.IsNull()) return;
    if (!m.IsMap()) {
      e.fail(prefix, "expected a mapping");
      return;
    }
    for (const auto& kv : m) fn(kv.first.Scalar(), kv.second, prefix + "." + kv.first.Scalar());
  };
  each(n, "healthchecks", [&](const std::string& k, const YAML::Node& v, const std::string& path) {
    if (k == "threshold") {
      e.get_number(v, path, 0, 100, hc.threshold);
    } else if (k == "active") {
      auto& a = hc.active;
      each(v, path, [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
        if (k2 == "type") {
          e.get_string(v2, p2, a.type);
          if (a.type != "http") e.fail(p2, a.type == "https" || a.type == "tcp" || a.type == "grpc" || a.type == "grpcs"
                                               ? "type '" + a.type + "' is not supported yet"
                                               : "expected one of: tcp, http, https, grpc, grpcs");
        } else if (k2 == "http_path") {
          e.get_string(v2, p2, a.http_path);
          if (a.http_path.empty() || a.http_path[0] != '/') e.fail(p2, "should start with: /");
        } else if (k2 == "timeout") {
          e.get_number(v2, p2, 0, 65535, a.timeout_s);
        } else if (k2 == "concurrency") {
          e.get_int(v2, p2, 1, 2147483647, a.concurrency);
        } else if (k2 == "https_verify_certificate" || k2 == "https_sni") {
          // Only meaningful for https probes, which are refused above.
        } else if (k2 == "headers") {
          each(v2, p2, [&](const std::string& name, const YAML::Node& vals, const std::string& p3) {
            std::vector<std::string> values;
            if (e.get_strings(vals, p3, values)) a.headers.push_back({name, values});
          });
        } else if (k2 == "healthy") {
          each(v2, p2, [&](const std::string& k3, const YAML::Node& v3, const std::string& p3) {
            if (k3 == "interval") e.get_number(v3, p3, 0, 65535, a.healthy_interval_s);
            else if (k3 == "http_statuses") e.get_ints(v3, p3, 100, 999, a.healthy_statuses);
            else if (k3 == "successes") e.get_int(v3, p3, 0, 255, a.healthy_successes);
            else e.fail(p3, "unknown field");
          });
        } else if (k2 == "unhealthy") {
          each(v2, p2, [&](const std::string& k3, const YAML::Node& v3, const std::string& p3) {
            if (k3 == "interval") e.get_number(v3, p3, 0, 65535, a.unhealthy_interval_s);
            else if (k3 == "http_statuses") e.get_ints(v3, p3, 100, 999, a.unhealthy_statuses);
            else if (k3 == "tcp_failures") e.get_int(v3, p3, 0, 255, a.unhealthy_tcp_failures);
            else if (k3 == "timeouts") e.get_int(v3, p3, 0, 255, a.unhealthy_timeouts);
            else if (k3 == "http_failures") e.get_int(v3, p3, 0, 255, a.unhealthy_http_failures);
            else e.fail(p3, "unknown field");
          });
        } else {
          e.fail(p2, "unknown field");
        }
      });
    } else if (k == "passive") {
      auto& p = hc.passive;
      each(v, path, [&](const std::string& k2, const YAML::Node& v2, const std::string& p2) {
        if (k2 == "type") {
          e.get_string(v2, p2, p.type);
          if (p.type != "http" && p.type != "https" && p.type != "tcp" && p.type != "grpc" && p.type != "grpcs") {
            e.fail(p2, "expected one of: tcp, http, https, grpc, grpcs");
          }
        } else if (k2 == "healthy") {
          each(v2, p2, [&](const std::string& k3, const YAML::Node& v3, const std::string& p3) {
            if (k3 == "http_statuses") e.get_ints(v3, p3, 100, 999, p.healthy_statuses);
            else if (k3 == "successes") e.get_int(v3, p3, 0, 255, p.healthy_successes);
            else e.fail(p3, "unknown field");
          });
        } else if (k2 == "unhealthy") {
          each(v2, p2, [&](const std::string& k3, const YAML::Node& v3, const std::string& p3) {
            if (k3 == "http_statuses") e.get_ints(v3, p3, 100, 999, p.unhealthy_statuses);
            else if (k3 == "tcp_failures") e.get_int(v3, p3, 0, 255, p.unhealthy_tcp_failures);
            else if (k3 == "timeouts") e.get_int(v3, p3, 0, 255, p.unhealthy_timeouts);
            else if (k3 == "http_failures") e.get_int(v3, p3, 0, 255, p.unhealthy_http_failures);
            else e.fail(p3, "unknown field");
          });
        } else {
          e.fail(p2, "unknown field");
        }
      });
    } else {
      e.fail(path, "unknown field");
    }
  });
}

void Loader::load_nested_chains(Entity& e, const YAML::Node& v, int service, int route) {
  if (!v.IsSequence()) {
    e.fail("filter_chains", "expected an array");
    return;
  }
  size_t i = 0;
  for (const auto& c : v) {
    load_filter_chain(c, label_of(c, i), service, route);
    ++i;
  }
}

void Loader::load_filter_chain(const YAML::Node& n, const std::string& label, int service, int route) {
  Entity e("filter_chain", label, errors_);
  if (!n.IsMap()) {
    e.fail("-", "expected a mapping");
    return;
  }
  FilterChain c;
  c.service = service;
  c.route = route;
  PendingChain pending{out_.filter_chains.size(), "", "", label};
  auto ref = [&](const YAML::Node& v, const std::string& f, std::string& out) {
    if (service >= 0 || route >= 0) {
      e.fail(f, "cannot be set on a filter chain nested under a service or route");
    } else if (v.IsMap() && v["name"] && v["name"].IsScalar()) {
      out = v["name"].Scalar();
    } else if (v.IsMap() && v["id"] && v["id"].IsScalar()) {
      out = v["id"].Scalar();
    } else if (v.IsScalar()) {
      out = v.Scalar();
    } else if (!v.IsNull()) {
      e.fail(f, "expected a name or id");
    }
  };
  for (const auto& kv : n) {
    const std::string f = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (f == "name") {
      e.get_string(v, f, c.name);
    } else if (f == "id") {
      e.get_string(v, f, c.id);
    } else if (f == "enabled") {
      e.get_bool(v, f, c.enabled);
    } else if (f == "service") {
      ref(v, f, pending.service_ref);
    } else if (f == "route") {
      ref(v, f, pending.route_ref);
    } else if (f == "tags") {
      e.get_strings(v, f, c.tags);
    } else if (f == "created_at" || f == "updated_at") {
    } else if (f == "filters") {
      if (!v.IsSequence() || v.size() == 0) {
        e.fail(f, "expected an array of at least one filter");
        continue;
      }
      size_t i = 0;
      for (const auto& fn : v) {
        std::string field = "filters." + std::to_string(i++);
        if (!fn.IsMap()) {
          e.fail(field, "expected a mapping with name, config, enabled");
          continue;
        }
        FilterEntry entry;
        for (const auto& fkv : fn) {
          const std::string k = fkv.first.Scalar();
          const YAML::Node& fv = fkv.second;
          if (k == "name") {
            e.get_string(fv, field + ".name", entry.name);
          } else if (k == "enabled") {
            e.get_bool(fv, field + ".enabled", entry.enabled);
          } else if (k == "config") {
            // A string is passed as is; structured JSON is passed as JSON text.
            if (fv.IsNull()) {
              entry.config.clear();
            } else if (fv.IsScalar()) {
              entry.config = fv.Scalar();
            } else {
              entry.config = to_json(fv);
            }
          } else {
            e.fail(field + "." + k, "unknown field");
          }
        }
        if (entry.name.empty()) e.fail(field + ".name", "required field missing");
        c.filters.push_back(std::move(entry));
      }
    } else {
      e.fail(f, "unknown field");
    }
  }
  if (!n["filters"]) e.fail("filters", "required field missing");
  out_.filter_chains.push_back(std::move(c));
  if (service < 0 && route < 0) pending_chains_.push_back(pending);
}

void Loader::load_service(const YAML::Node& n, size_t index) {
  Entity e("service", label_of(n, index), errors_);
  if (!n.IsMap()) {
    e.fail("-", "expected a mapping");
    return;
  }
  Service s;
  bool has_url = false, has_host = false;
  for (const auto& kv : n) {
    const std::string f = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (f == "name") {
      if (e.get_string(v, f, s.name) && !valid_name(s.name)) {
        e.fail(f, "invalid value '" + s.name + "': it must only contain alphanumeric and '., -, _, ~' characters");
      }
    } else if (f == "id") {
      e.get_string(v, f, s.id);
    } else if (f == "url") {
      std::string url;
      if (e.get_string(v, f, url)) apply_url(e, url, s);
      has_url = true;
    } else if (f == "protocol") {
      e.get_string(v, f, s.protocol);
    } else if (f == "host") {
      e.get_string(v, f, s.host);
      has_host = true;
    } else if (f == "port") {
      e.get_int(v, f, 0, 65535, s.port);
    } else if (f == "path") {
      if (!v.IsNull() && e.get_string(v, f, s.path) && (s.path.empty() || s.path[0] != '/')) {
        e.fail(f, "should start with: / (fixed path)");
      }
    } else if (f == "retries") {
      e.get_int(v, f, 0, 32767, s.retries);
    } else if (f == "connect_timeout") {
      e.get_int(v, f, 1, 2147483646, s.connect_timeout_ms);
    } else if (f == "write_timeout") {
      e.get_int(v, f, 1, 2147483646, s.write_timeout_ms);
    } else if (f == "read_timeout") {
      e.get_int(v, f, 1, 2147483646, s.read_timeout_ms);
    } else if (f == "enabled") {
      e.get_bool(v, f, s.enabled);
    } else if (f == "tags" || f == "created_at" || f == "updated_at") {
      // Metadata only.
    } else if (f == "tls_verify" || f == "tls_verify_depth" || f == "client_certificate" ||
               f == "ca_certificates") {
      e.only_empty(v, f);
    } else if (f == "routes") {
      // Loaded below, once the service has its index.
    } else if (f == "plugins") {
      e.only_empty(v, f);
    } else if (f == "filter_chains") {
      // Loaded below, once the service has its index.
    } else {
      e.fail(f, "unknown field");
    }
  }
  if (has_url && has_host) e.fail("url", "cannot be set together with 'host'");
  if (!has_url && !has_host) e.fail("host", "required field missing");
  check_protocol(e, "protocol", s.protocol);
  for (const auto& other : out_.services) {
    if (!s.name.empty() && other.name == s.name) e.fail("name", "duplicate service name '" + s.name + "'");
  }
  int service_index = static_cast<int>(out_.services.size());
  out_.services.push_back(s);
  if (n["filter_chains"]) load_nested_chains(e, n["filter_chains"], service_index, -1);
  if (n["routes"]) {
    if (!n["routes"].IsSequence()) {
      e.fail("routes", "expected an array");
    } else {
      size_t i = 0;
      for (const auto& r : n["routes"]) {
        load_route(r, label_of(r, i), service_index);
        ++i;
      }
    }
  }
}

void Loader::load_route(const YAML::Node& n, const std::string& label, int parent_service) {
  Entity e("route", label, errors_);
  if (!n.IsMap()) {
    e.fail("-", "expected a mapping");
    return;
  }
  Route r;
  r.service = parent_service;
  std::string service_ref;
  for (const auto& kv : n) {
    const std::string f = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (f == "name") {
      if (e.get_string(v, f, r.name) && !valid_name(r.name)) {
        e.fail(f, "invalid value '" + r.name + "': it must only contain alphanumeric and '., -, _, ~' characters");
      }
    } else if (f == "id") {
      e.get_string(v, f, r.id);
    } else if (f == "paths") {
      if (e.get_strings(v, f, r.paths)) {
        for (const auto& p : r.paths) {
          if (p.size() > 1 && p[0] == '~') {
            std::string err;
            if (!router::Regex::compile(std::string_view(p).substr(1), true, false, &err)) e.fail(f, err);
          } else if (p.empty() || p[0] != '/') {
            e.fail(f, "invalid path '" + p + "': should start with: / (fixed path) or ~/ (regex path)");
          }
        }
      }
    } else if (f == "hosts") {
      if (e.get_strings(v, f, r.hosts)) {
        for (auto& h : r.hosts) {
          h = lower(h);
          std::string why;
          if (!valid_route_host(h, &why)) e.fail(f, "invalid host '" + h + "': " + why);
        }
      }
    } else if (f == "methods") {
      if (e.get_strings(v, f, r.methods)) {
        for (const auto& m : r.methods) {
          if (m.empty() || m.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
            e.fail(f, "invalid value '" + m + "': must be uppercase letters");
          }
        }
      }
    } else if (f == "headers") {
      load_route_headers(e, v, r);
    } else if (f == "snis") {
      if (e.get_strings(v, f, r.snis)) {
        for (auto& sni : r.snis) sni = lower(sni);
      }
    } else if (f == "strip_path") {
      e.get_bool(v, f, r.strip_path);
    } else if (f == "preserve_host") {
      e.get_bool(v, f, r.preserve_host);
    } else if (f == "service") {
      if (parent_service >= 0) {
        e.fail(f, "cannot be set on a route nested under a service");
      } else if (v.IsMap() && v["name"] && v["name"].IsScalar()) {
        service_ref = v["name"].Scalar();
      } else if (v.IsMap() && v["id"] && v["id"].IsScalar()) {
        service_ref = v["id"].Scalar();
      } else if (v.IsScalar()) {
        service_ref = v.Scalar();
      } else if (!v.IsNull()) {
        e.fail(f, "expected a service name or id");
      }
    } else if (f == "protocols") {
      std::vector<std::string> protocols;
      if (e.get_strings(v, f, protocols)) {
        if (protocols.empty()) e.fail(f, "length must be at least 1");
        for (const auto& p : protocols) {
          if (p == "http" || p == "https") continue;
          static const std::set<std::string> kong = {"grpc", "grpcs", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"};
          e.fail(f, kong.count(p) ? "protocol '" + p + "' is not supported yet" : "unknown protocol '" + p + "'");
        }
        r.protocols = protocols;
      }
    } else if (f == "regex_priority") {
      e.get_int(v, f, -2147483647, 2147483647, r.regex_priority);
    } else if (f == "path_handling") {
      std::string ph;
      if (e.get_string(v, f, ph)) {
        if (ph == "v1") {
          r.path_handling_v1 = true;
        } else if (ph != "v0") {
          e.fail(f, "expected one of: v0, v1");
        }
      }
    } else if (f == "https_redirect_status_code") {
      int code = 426;
      if (e.get_int(v, f, 0, 999, code) && code != 426 && code != 301 && code != 302 && code != 307 &&
          code != 308) {
        e.fail(f, "expected one of: 426, 301, 302, 307, 308");
      }
      r.https_redirect_status_code = code;
    } else if (f == "request_buffering") {
      e.get_bool(v, f, r.request_buffering);
    } else if (f == "response_buffering") {
      e.get_bool(v, f, r.response_buffering);
    } else if (f == "sources" || f == "destinations") {
      // Stream-route matchers: only meaningful with tcp/tls/udp, which are refused above.
      if (!v.IsNull() && !(v.IsSequence() && v.size() == 0)) {
        e.fail(f, "can only be set when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'");
      }
    } else if (f == "plugins") {
      e.only_empty(v, f);
    } else if (f == "filter_chains") {
      // Loaded once the route has its index.
    } else if (f == "tags") {
      e.get_strings(v, f, r.tags);
    } else if (f == "created_at" || f == "updated_at") {
    } else if (f == "expression" || f == "priority") {
      e.fail(f, "the expressions router flavor is not supported");
    } else {
      e.fail(f, "unknown field");
    }
  }
  if (!r.snis.empty() && !r.allows("https")) {
    e.fail("snis", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");
  }
  if (r.paths.empty() && r.hosts.empty() && r.methods.empty() && r.headers.empty() &&
      !(r.allows("https") && !r.snis.empty())) {
    e.fail("-", "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'http' or 'https'");
  }
  for (const auto& other : out_.routes) {
    if (!r.name.empty() && other.name == r.name) e.fail("name", "duplicate route name '" + r.name + "'");
  }
  if (!service_ref.empty()) pending_.push_back({out_.routes.size(), service_ref, label});
  out_.routes.push_back(std::move(r));
  if (n["filter_chains"]) load_nested_chains(e, n["filter_chains"], -1, static_cast<int>(out_.routes.size() - 1));
}

void Loader::load_route_headers(Entity& e, const YAML::Node& v, Route& r) {
  if (v.IsNull()) return;
  if (!v.IsMap()) {
    e.fail("headers", "expected a map of header names to arrays of values");
    return;
  }
  for (const auto& kv : v) {
    HeaderMatcher m;
    m.name = lower(kv.first.Scalar());
    if (m.name == "host") {
      e.fail("headers", "cannot contain 'host' header, which must be specified in the 'hosts' attribute");
      continue;
    }
    if (!e.get_strings(kv.second, "headers." + m.name, m.values)) continue;
    if (m.values.empty()) e.fail("headers." + m.name, "length must be at least 1");
    for (const auto& val : m.values) {
      std::string err;
      if (val.rfind("~*", 0) == 0 && !router::Regex::compile(std::string_view(val).substr(2), false, true, &err)) {
        e.fail("headers." + m.name, err);
      }
    }
    r.headers.push_back(std::move(m));
  }
}

void Loader::resolve_route_services() {
  std::unordered_map<std::string, int> by_key;
  for (size_t i = 0; i < out_.services.size(); ++i) {
    if (!out_.services[i].name.empty()) by_key[out_.services[i].name] = static_cast<int>(i);
    if (!out_.services[i].id.empty()) by_key[out_.services[i].id] = static_cast<int>(i);
  }
  for (const auto& p : pending_) {
    auto it = by_key.find(p.ref);
    if (it == by_key.end()) {
      Entity e("route", p.label, errors_);
      e.fail("service", "service '" + p.ref + "' does not exist");
      continue;
    }
    out_.routes[p.route].service = it->second;
  }
  std::unordered_map<std::string, int> routes_by_key;
  for (size_t i = 0; i < out_.routes.size(); ++i) {
    if (!out_.routes[i].name.empty()) routes_by_key[out_.routes[i].name] = static_cast<int>(i);
    if (!out_.routes[i].id.empty()) routes_by_key[out_.routes[i].id] = static_cast<int>(i);
  }
  for (const auto& p : pending_chains_) {
    Entity e("filter_chain", p.label, errors_);
    FilterChain& c = out_.filter_chains[p.chain];
    if (p.service_ref.empty() == p.route_ref.empty()) {
      e.fail("-", "exactly one of 'service' or 'route' must be set");
      continue;
    }
    if (!p.service_ref.empty()) {
      auto it = by_key.find(p.service_ref);
      if (it == by_key.end()) {
        e.fail("service", "service '" + p.service_ref + "' does not exist");
      } else {
        c.service = it->second;
      }
    } else {
      auto it = routes_by_key.find(p.route_ref);
      if (it == routes_by_key.end()) {
        e.fail("route", "route '" + p.route_ref + "' does not exist");
      } else {
        c.route = it->second;
      }
    }
  }
  // Kong: at most one chain per service and one per route.
  for (size_t i = 0; i < out_.filter_chains.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const auto& a = out_.filter_chains[i];
      const auto& b = out_.filter_chains[j];
      bool same = (a.service >= 0 && a.service == b.service) || (a.route >= 0 && a.route == b.route);
      if (same) {
        Entity e("filter_chain", a.name.empty() ? std::to_string(i) : a.name, errors_);
        e.fail(a.service >= 0 ? "service" : "route", "already has a filter chain");
      }
    }
  }
}

}  // namespace

bool load_text(std::string_view text, Declarative& out, std::vector<std::string>& errors) {
  size_t before = errors.size();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& ex) {
    errors.push_back("config 'root' field '-': cannot parse YAML/JSON at line " + std::to_string(ex.mark.line + 1) +
                     ": " + ex.msg);
    return false;
  }
  try {
    Loader(out, errors).load(root);
  } catch (const YAML::Exception& ex) {
    errors.push_back(std::string("config 'root' field '-': ") + ex.what());
  }
  return errors.size() == before;
}

bool load_file(const std::string& path, Declarative& out, std::vector<std::string>& errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back("config '" + path + "' field '-': cannot open file");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_text(ss.str(), out, errors);
}

}  // namespace wg::config

#include "plugins/log_serializer.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include "config/entities.h"
#include "config/snapshot.h"
#include "http/form_decode.h"
#include "http/message.h"
#include "plugins/consumers.h"

namespace wg::plugins {
namespace {

uint64_t clock_ms(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void put_int(std::string& out, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", static_cast<long long>(v));
  out.append(tmp, static_cast<size_t>(n));
}

// A JSON string's content. Bytes from 0x80 up pass as they are (request
// data is usually UTF-8; cjson does the same).
void put_escaped(std::string& out, std::string_view v) {
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char tmp[7];
      snprintf(tmp, sizeof tmp, "\\u%04x", c);
      out.append(tmp, 6);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

void put_str(std::string& out, std::string_view v) {
  out.push_back('"');
  put_escaped(out, v);
  out.push_back('"');
}

void put_lower_str(std::string& out, std::string_view v) {
  out.push_back('"');
  for (char c : v) out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  out.push_back('"');
}

// "key": with a leading comma unless first.
void key(std::string& out, const char* k, bool first = false) {
  if (!first) out.push_back(',');
  out.push_back('"');
  out.append(k);
  out.append("\":");
}

void put_bool(std::string& out, bool b) { out.append(b ? "true" : "false"); }

void put_str_array(std::string& out, const std::vector<std::string>& v) {
  out.push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out.push_back(',');
    put_str(out, v[i]);
  }
  out.push_back(']');
}

// Headers as Kong's get_headers(): lower-cased names, a repeated name's
// values as an array; credentials redacted. `skip_pseudo` drops ':' names
// (the request's :authority is written as "host" by the caller).
template <typename It, typename NameOf, typename ValueOf>
void put_headers(std::string& out, It begin, It end, NameOf name_of, ValueOf value_of, bool first) {
  for (It i = begin; i != end; ++i) {
    std::string_view name = name_of(*i);
    if (name.empty() || name[0] == ':') continue;
    bool seen = false;
    for (It j = begin; j != i && !seen; ++j) seen = http::iequals(name_of(*j), name);
    if (seen) continue;
    size_t count = 0;
    for (It j = i; j != end; ++j) count += http::iequals(name_of(*j), name) ? 1 : 0;
    if (!first) out.push_back(',');
    first = false;
    put_lower_str(out, name);
    out.push_back(':');
    bool redact = http::iequals(name, "authorization") || http::iequals(name, "proxy-authorization");
    if (count > 1) out.push_back('[');
    bool first_value = true;
    for (It j = i; j != end; ++j) {
      if (!http::iequals(name_of(*j), name)) continue;
      if (!first_value) out.push_back(',');
      first_value = false;
      put_str(out, redact ? std::string_view("REDACTED") : std::string_view(value_of(*j)));
    }
    if (count > 1) out.push_back(']');
  }
}

// Kong's kong.request.get_query(): an argument without '=' is true, a
// repeated one an array of its values; first-seen order.
void put_query(std::string& out, std::string_view target) {
  out.push_back('{');
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    std::vector<std::pair<std::string, std::vector<std::string>>> args;  // value "\x01": true
    std::string_view query = target.substr(q + 1);
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (pair.empty()) continue;
      size_t eq = pair.find('=');
      std::string name = http::form_decode(pair.substr(0, eq));
      if (name.empty()) continue;
      std::string value =
          eq == std::string_view::npos ? std::string("\x01") : http::form_decode(pair.substr(eq + 1));
      auto it = args.begin();
      while (it != args.end() && it->first != name) ++it;
      if (it == args.end()) {
        args.push_back({std::move(name), {std::move(value)}});
      } else {
        it->second.push_back(std::move(value));
      }
    }
    bool first = true;
    for (const auto& [name, values] : args) {
      if (!first) out.push_back(',');
      first = false;
      put_str(out, name);
      out.push_back(':');
      if (values.size() > 1) out.push_back('[');
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        if (values[i] == "\x01") {
          out.append("true");
        } else {
          put_str(out, values[i]);
        }
      }
      if (values.size() > 1) out.push_back(']');
    }
  }
  out.push_back('}');
}

// The route entity as Kong stores it (unset fields left out).
void put_route(std::string& out, const config::Route& r, const config::ServiceRuntime* service) {
  key(out, "id", true);
  put_str(out, r.id);
  if (!r.name.empty()) {
    key(out, "name");
    put_str(out, r.name);
  }
  key(out, "protocols");
  put_str_array(out, r.protocols);
  if (!r.methods.empty()) {
    key(out, "methods");
    put_str_array(out, r.methods);
  }
  if (!r.hosts.empty()) {
    key(out, "hosts");
    put_str_array(out, r.hosts);
  }
  if (!r.paths.empty()) {
    key(out, "paths");
    put_str_array(out, r.paths);
  }
  if (!r.headers.empty()) {
    key(out, "headers");
    out.push_back('{');
    for (size_t i = 0; i < r.headers.size(); ++i) {
      if (i > 0) out.push_back(',');
      put_str(out, r.headers[i].name);
      out.push_back(':');
      put_str_array(out, r.headers[i].values);
    }
    out.push_back('}');
  }
  if (!r.snis.empty()) {
    key(out, "snis");
    put_str_array(out, r.snis);
  }
  key(out, "https_redirect_status_code");
  put_int(out, r.https_redirect_status_code);
  key(out, "regex_priority");
  put_int(out, r.regex_priority);
  key(out, "strip_path");
  put_bool(out, r.strip_path);
  key(out, "path_handling");
  put_str(out, r.path_handling_v1 ? "v1" : "v0");
  key(out, "preserve_host");
  put_bool(out, r.preserve_host);
  key(out, "request_buffering");
  put_bool(out, r.request_buffering);
  key(out, "response_buffering");
  put_bool(out, r.response_buffering);
  if (!r.tags.empty()) {
    key(out, "tags");
    put_str_array(out, r.tags);
  }
  if (service != nullptr) {
    key(out, "service");
    out.append("{\"id\":");
    put_str(out, service->cfg.id);
    out.push_back('}');
  }
}

void put_service(std::string& out, const config::Service& s) {
  key(out, "id", true);
  put_str(out, s.id);
  if (!s.name.empty()) {
    key(out, "name");
    put_str(out, s.name);
  }
  key(out, "protocol");
  put_str(out, s.protocol);
  key(out, "host");
  put_str(out, s.host);
  key(out, "port");
  put_int(out, s.port);
  if (!s.path.empty()) {
    key(out, "path");
    put_str(out, s.path);
  }
  key(out, "retries");
  put_int(out, s.retries);
  key(out, "connect_timeout");
  put_int(out, s.connect_timeout_ms);
  key(out, "write_timeout");
  put_int(out, s.write_timeout_ms);
  key(out, "read_timeout");
  put_int(out, s.read_timeout_ms);
  key(out, "enabled");
  put_bool(out, s.enabled);
}

void put_consumer(std::string& out, const config::Consumer& c) {
  key(out, "id", true);
  put_str(out, c.id);
  if (!c.username.empty()) {
    key(out, "username");
    put_str(out, c.username);
  }
  if (!c.custom_id.empty()) {
    key(out, "custom_id");
    put_str(out, c.custom_id);
  }
  if (!c.tags.empty()) {
    key(out, "tags");
    put_str_array(out, c.tags);
  }
}

void put_request(std::string& out, const pipeline::Exchange& x) {
  const http::HeaderMap::Entry* authority = x.request_headers.find(":authority");
  std::string_view host = authority != nullptr ? authority->value : std::string_view();
  key(out, "uri", true);
  put_str(out, x.log.uri);
  // Kong's url: scheme://host:server_port + the request target (the Host
  // header without its port).
  std::string_view bare = host;
  if (!bare.empty() && bare[0] != '[') bare = bare.substr(0, bare.find(':'));
  else if (!bare.empty()) bare = bare.substr(0, bare.find(']') + 1);
  const http::HeaderMap::Entry* scheme = x.request_headers.find(":scheme");
  key(out, "url");
  out.push_back('"');
  put_escaped(out, scheme != nullptr ? scheme->value : std::string_view("http"));
  out.append("://");
  put_escaped(out, bare);
  out.push_back(':');
  put_int(out, x.server_port);
  put_escaped(out, x.log.uri);
  out.push_back('"');
  key(out, "querystring");
  put_query(out, x.log.uri);
  key(out, "method");
  put_str(out, x.method);
  key(out, "headers");
  out.push_back('{');
  bool first = true;
  if (authority != nullptr) {
    out.append("\"host\":");
    put_str(out, host);
    first = false;
  }
  put_headers(
      out, x.request_headers.begin(), x.request_headers.end(), [](const http::Header& h) { return h.name; },
      [](const http::Header& h) { return h.value; }, first);
  out.push_back('}');
  key(out, "size");
  put_int(out, static_cast<int64_t>(x.log.request_size));
}

void put_response(std::string& out, const pipeline::Exchange& x) {
  key(out, "status", true);
  put_int(out, x.log.status);
  key(out, "headers");
  out.push_back('{');
  if (x.response_phase) {
    put_headers(
        out, x.response_headers.begin(), x.response_headers.end(), [](const http::Header& h) { return h.name; },
        [](const http::Header& h) { return h.value; }, true);
  } else if (x.local_reply) {
    using Pair = std::pair<std::string, std::string>;
    put_headers(
        out, x.local_headers.begin(), x.local_headers.end(), [](const Pair& h) { return std::string_view(h.first); },
        [](const Pair& h) { return std::string_view(h.second); }, true);
  }
  out.push_back('}');
  key(out, "size");
  put_int(out, static_cast<int64_t>(x.log.bytes_sent));
}

void put_latencies(std::string& out, const pipeline::Exchange& x, uint64_t now) {
  const pipeline::Timings& t = x.timings;
  uint64_t start = t.start_ms != 0 ? t.start_ms : now;
  int64_t request = static_cast<int64_t>(now - start);
  // Kong's proxy latency: the upstream's wait for its response head; kong:
  // the time spent before the upstream was reached (all of it when never).
  int64_t proxy = t.upstream_start_ms != 0 && t.upstream_head_ms >= t.upstream_start_ms
                      ? static_cast<int64_t>(t.upstream_head_ms - t.upstream_start_ms)
                      : -1;
  int64_t kong = t.upstream_start_ms != 0 ? static_cast<int64_t>(t.upstream_start_ms - start) : request;
  key(out, "request", true);
  put_int(out, request);
  key(out, "kong");
  put_int(out, kong);
  key(out, "proxy");
  put_int(out, proxy);
  key(out, "receive");
  put_int(out, 0);
}

void put_tries(std::string& out, const pipeline::Exchange& x) {
  out.push_back('[');
  int n = std::min(x.log.tries, pipeline::LogFields::kLoggedTries);
  for (int i = 0; i < n; ++i) {
    if (i > 0) out.push_back(',');
    std::string_view ep = x.log.try_peers[i];
    size_t colon = ep.rfind(':');
    std::string_view ip = colon == std::string_view::npos ? ep : ep.substr(0, colon);
    if (ip.size() >= 2 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
    out.append("{\"ip\":");
    put_str(out, ip);
    out.append(",\"port\":");
    out.append(colon == std::string_view::npos ? std::string_view("null") : ep.substr(colon + 1));
    out.push_back('}');
  }
  out.push_back(']');
}

}  // namespace

void serialize_log(const pipeline::Exchange& x, const Consumers* consumers, std::string& out) {
  const uint64_t now = clock_ms(CLOCK_MONOTONIC);  // the event loop's clock
  const uint64_t start = x.timings.start_ms != 0 ? x.timings.start_ms : now;
  out.append("{\"request\":{");
  put_request(out, x);
  out.append("},\"upstream_uri\":");
  put_str(out, x.log.upstream_uri);
  out.append(",\"upstream_status\":");
  if (x.log.upstream_status != 0) {
    out.push_back('"');
    put_int(out, x.log.upstream_status);
    out.push_back('"');
  } else {
    out.append("\"\"");
  }
  out.append(",\"response\":{");
  put_response(out, x);
  out.append("},\"latencies\":{");
  put_latencies(out, x, now);
  out.append("},\"tries\":");
  put_tries(out, x);
  if (!x.credential_id.empty()) {
    out.append(",\"authenticated_entity\":{\"id\":");
    put_str(out, x.credential_id);
    out.append(",\"consumer_id\":");
    put_str(out, x.consumer_id);
    out.push_back('}');
  }
  if (x.route != nullptr) {
    out.append(",\"route\":{");
    put_route(out, *x.route, x.service);
    out.push_back('}');
  }
  if (x.service != nullptr) {
    out.append(",\"service\":{");
    put_service(out, x.service->cfg);
    out.push_back('}');
  }
  const config::Consumer* consumer =
      consumers != nullptr && !x.consumer_id.empty() ? consumers->by_id(x.consumer_id) : nullptr;
  if (consumer != nullptr) {
    out.append(",\"consumer\":{");
    put_consumer(out, *consumer);
    out.push_back('}');
  }
  out.append(",\"client_ip\":");
  put_str(out, x.client_ip);
  out.append(",\"started_at\":");
  put_int(out, static_cast<int64_t>(clock_ms(CLOCK_REALTIME) - (now - start)));
  // Kong's response source: the upstream answered, a plugin exited, or the
  // gateway failed the request.
  out.append(",\"source\":");
  out.append(x.local_reply ? "\"exit\"" : x.log.upstream_status != 0 ? "\"service\"" : "\"error\"");
  out.append(",\"workspace_name\":\"default\"}");
}

std::string log_entry(const pipeline::Exchange& x, const Consumers* consumers) {
  thread_local size_t last_size = 1024;
  std::string entry;
  entry.reserve(last_size + last_size / 4);
  serialize_log(x, consumers, entry);
  last_size = entry.size();
  return entry;
}

config::schema::Field lua_code_field() {
  using config::schema::Field;
  using config::schema::Type;
  return Field("custom_fields_by_lua", Type::Map)
      .map_of(Field("", Type::String).min_len(1), Field("", Type::String).min_len(1))
      .check([](const config::Value& v) -> std::optional<std::string> {
        if (v.is_object() && !v.empty()) return "not supported yet (it runs Lua code, which this gateway does not run yet)";
        return {};
      });
}

}  // namespace wg::plugins

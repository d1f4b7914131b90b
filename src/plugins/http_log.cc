// http-log (PRIORITY 12): sends each request's log JSON (Kong's
// kong.log.serialize()) to an HTTP endpoint through Kong's queue: entries
// are batched (a batch of one is the object, more a JSON array), sent on
// the worker's outbound HTTP client, retried with a doubling delay, and
// dropped past the queue's limits (plugins/log_senders.h). The request
// never waits for any of it.
#include <openssl/evp.h>

#include <algorithm>
#include <optional>

#include "core/log.h"
#include "http/message.h"
#include "plugins/bundled.h"
#include "plugins/log_senders.h"
#include "plugins/log_serializer.h"

namespace wg::plugins {
namespace {

class HttpLog : public Plugin {
 public:
  HttpLog(std::shared_ptr<const Consumers> consumers, std::shared_ptr<const HttpTarget> target, QueueParams queue,
          std::string key)
      : Plugin("http-log", 12, pipeline::phase_bit(pipeline::Phase::Log)),
        consumers_(std::move(consumers)),
        target_(std::move(target)),
        queue_(queue),
        key_(std::move(key)) {}

  void on_log(Exchange& x, Slot&) const override {
    if (!serves(x)) return;
    LogSenders* senders = LogSenders::current();
    if (senders == nullptr) return;
    std::string entry = log_entry(x, consumers_.get());
    senders->http(key_, target_, queue_, std::move(entry));
  }

 private:
  std::shared_ptr<const Consumers> consumers_;
  std::shared_ptr<const HttpTarget> target_;
  QueueParams queue_;
  std::string key_;
};

// The parts of http_endpoint (socket.url's view of it).
struct Url {
  std::string scheme, userinfo, host, path_and_query;
  int port = 0;
};

// scheme://[userinfo@]host[:port][/path][?query]; the reason it is not one.
std::optional<std::string> parse_url(const std::string& s, Url* out) {
  size_t colon = s.find("://");
  if (colon == std::string::npos || colon == 0) return "missing scheme in url";
  out->scheme = s.substr(0, colon);
  size_t auth_start = colon + 3;
  size_t auth_end = s.find_first_of("/?#", auth_start);
  std::string authority = s.substr(auth_start, auth_end == std::string::npos ? std::string::npos : auth_end - auth_start);
  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    out->userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  size_t port_colon = authority.rfind(':');
  if (port_colon != std::string::npos && authority.find(']', port_colon) == std::string::npos) {
    std::string port = authority.substr(port_colon + 1);
    authority = authority.substr(0, port_colon);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) {
      return "could not parse url. invalid port";
    }
    out->port = std::stoi(port);
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return "missing host in url";
  out->host = authority;
  std::string rest = auth_end == std::string::npos ? "" : s.substr(auth_end);
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest[0] == '?') rest = "/" + rest;
  out->path_and_query = rest;
  return {};
}

std::optional<std::string> valid_url(const config::Value& v) {
  Url u;
  return parse_url(v.get_ref<const std::string&>(), &u);
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

uint64_t seconds_to_ms(double s) { return s <= 0 ? 0 : static_cast<uint64_t>(s * 1000 + 0.5); }

// Kong's queue parameters, with the legacy top-level fields of older
// files applied as Kong 3.x does (Queue.get_plugin_params): queue_size
// and flush_timeout override when set to other than their old defaults;
// retry_count no longer does anything and is only warned about.
QueueParams queue_params(const config::Value& c) {
  QueueParams p;
  config::Value q = c.contains("queue") && c["queue"].is_object() ? c["queue"] : config::Value::object();
  p.max_batch_size = q.value("max_batch_size", 1);
  p.max_coalescing_delay_ms = seconds_to_ms(q.value("max_coalescing_delay", 1.0));
  p.max_entries = q.value("max_entries", 10000);
  p.max_bytes = q.contains("max_bytes") && q["max_bytes"].is_number() ? q["max_bytes"].get<size_t>() : 0;
  double retry_time = q.value("max_retry_time", 60.0);
  p.max_retry_time_ms = retry_time < 0 ? -1 : static_cast<int64_t>(seconds_to_ms(retry_time));
  p.initial_retry_delay_ms = std::max<uint64_t>(1, seconds_to_ms(q.value("initial_retry_delay", 0.01)));
  p.max_retry_delay_ms = std::max<uint64_t>(1, seconds_to_ms(q.value("max_retry_delay", 60.0)));
  p.unlimited_concurrency = q.value("concurrency_limit", 1) == -1;
  auto set = [&c](const char* name) { return c.contains(name) && c[name].is_number(); };
  if (set("retry_count") && c["retry_count"].get<int>() != 10) {
    WG_LOG(Warn, "http-log: the retry_count parameter no longer works, please update your configuration to use "
                 "initial_retry_delay and max_retry_time instead");
  }
  if (set("queue_size") && c["queue_size"].get<int>() != 1) {
    p.max_batch_size = static_cast<size_t>(std::max(1, c["queue_size"].get<int>()));
    WG_LOG(Warn, "http-log: the queue_size parameter is deprecated, please update your configuration to use "
                 "queue.max_batch_size instead");
  }
  if (set("flush_timeout") && c["flush_timeout"].get<double>() != 2) {
    p.max_coalescing_delay_ms = seconds_to_ms(c["flush_timeout"].get<double>());
    WG_LOG(Warn, "http-log: the flush_timeout parameter is deprecated, please update your configuration to use "
                 "queue.max_coalescing_delay instead");
  }
  return p;
}

std::shared_ptr<Plugin> make(const config::Value& c, const BuildContext& ctx, std::string* error) {
  Url url;
  if (auto bad = parse_url(str_or_empty(c, "http_endpoint"), &url)) {
    *error = *bad;
    return nullptr;
  }
  if (url.scheme != "http") {
    *error = "http_endpoint: only http:// endpoints are supported yet (no outbound TLS)";
    return nullptr;
  }
  int port = url.port != 0 ? url.port : 80;
  auto target = std::make_shared<HttpTarget>();
  target->address = LogAddress(url.host, port);
  target->authority = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (port != 80) target->authority += ":" + std::to_string(port);
  target->path = url.path_and_query;
  target->method = str_or_empty(c, "method");
  target->timeout_ms = static_cast<uint32_t>(std::clamp(c.value("timeout", 10000.0), 1.0, 2147483646.0));
  target->headers.emplace_back("Content-Type", str_or_empty(c, "content_type"));
  if (!url.userinfo.empty()) target->headers.emplace_back("Authorization", "Basic " + base64(url.userinfo));
  if (c.contains("headers") && c["headers"].is_object()) {
    for (const auto& [name, value] : c["headers"].items()) target->headers.emplace_back(name, value.get<std::string>());
  }
  // Instances with the very same config share a queue (Kong shares by a
  // name made of the endpoint settings).
  return std::make_shared<HttpLog>(ctx.consumers, target, queue_params(c), "http " + config::to_json(c));
}

Field queue_field() {
  return Field("queue", Type::Record)
      .with({
          Field("max_batch_size", Type::Integer).def(1).range(1, 1000000),
          Field("max_coalescing_delay", Type::Number).def(1).range(0, 3600),
          Field("max_entries", Type::Integer).def(10000).range(1, 1000000),
          Field("max_bytes", Type::Integer),
          Field("max_retry_time", Type::Number).def(60),
          Field("initial_retry_delay", Type::Number).def(0.01).range(0.001, 1000000),
          Field("max_retry_delay", Type::Number).def(60).range(0.001, 1000000),
          Field("concurrency_limit", Type::Integer).def(1).choices({-1, 1}),
      });
}

// Header names Kong's http-log refuses (the client sets them itself).
std::optional<std::string> allowed_header(const config::Value& v) {
  const auto& s = v.get_ref<const std::string&>();
  if (http::iequals(s, "host")) return "cannot contain 'Host' header";
  if (http::iequals(s, "content-length")) return "cannot contain 'Content-Length' header";
  if (http::iequals(s, "content-type")) return "cannot contain 'Content-Type' header";
  return {};
}

}  // namespace

PluginType http_log_type() {
  Field config = config_record({
      Field("http_endpoint", Type::String).req().check(valid_url),
      Field("method", Type::String).def("POST").choices({"POST", "PUT", "PATCH"}),
      Field("content_type", Type::String)
          .def("application/json")
          .choices({"application/json", "application/json; charset=utf-8"}),
      Field("timeout", Type::Number).def(10000),
      Field("keepalive", Type::Number).def(60000),
      Field("retry_count", Type::Integer),
      Field("queue_size", Type::Integer),
      Field("flush_timeout", Type::Number),
      Field("headers", Type::Map).map_of(typedefs::header_name("").check(allowed_header), Field("", Type::String)),
      queue_field(),
      lua_code_field(),
  });
  // Kong's custom_validator: credentials in the URL or in a header, not both.
  schema::EntityCheck auth;
  auth.kind = schema::EntityCheck::Kind::Custom;
  auth.custom = [](const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
    Url url;
    if (!c.contains("http_endpoint") || !c["http_endpoint"].is_string() ||
        parse_url(c["http_endpoint"].get<std::string>(), &url) || url.userinfo.empty()) {
      return;
    }
    if (!c.contains("headers") || !c["headers"].is_object()) return;
    for (const auto& [name, value] : c["headers"].items()) {
      if (http::iequals(name, "authorization")) {
        out.emplace_back("", "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed");
        return;
      }
    }
  };
  config.record_checks = {auth};
  return {"http-log", 12, config, make};
}

}  // namespace wg::plugins

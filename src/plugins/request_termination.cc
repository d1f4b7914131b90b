// request-termination (PRIORITY 2): answers every request of its scope
// with a fixed status and body, or only those carrying `trigger` as a
// header or query argument.
#include <map>

#include "plugins/bundled.h"

namespace wg::plugins {
namespace {

// The messages Kong's plugin gives a status when `message` is unset.
std::string default_message(int status) {
  static const std::map<int, std::string> kMessages = {
      {401, "Unauthorized"},  {404, "Not found"},   {405, "Method not allowed"},
      {500, "An unexpected error occurred"}, {502, "Bad Gateway"}, {503, "Service unavailable"}};
  auto it = kMessages.find(status);
  return it == kMessages.end() ? "" : it->second;
}

class RequestTermination : public Plugin {
 public:
  explicit RequestTermination(const config::Value& c)
      : Plugin("request-termination", 2, pipeline::phase_bit(pipeline::Phase::Access)),
        status_(c.value("status_code", 503)),
        message_(str_or_empty(c, "message")),
        body_(str_or_empty(c, "body")),
        content_type_(str_or_empty(c, "content_type")),
        trigger_(str_or_empty(c, "trigger")),
        echo_(c.value("echo", false)),
        has_body_(c.contains("body") && c["body"].is_string()),
        has_message_(c.contains("message") && c["message"].is_string()) {}

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    int in_query = 0;
    if (!trigger_.empty() && request_header(x, trigger_).empty() &&
        (query_arg(request_header(x, ":path"), trigger_, &in_query), in_query == 0)) {
      return Verdict::Continue;
    }
    if (echo_) return exit_with(x, status_, echo(x), {{"Content-Type", "application/json; charset=utf-8"}});
    if (has_body_) {
      http::HeaderList headers;
      if (!content_type_.empty()) headers.emplace_back("Content-Type", content_type_);
      return exit_with(x, status_, body_, std::move(headers));
    }
    std::string message = has_message_ ? message_ : default_message(status_);
    if (message.empty()) return exit_with(x, status_, "", {});
    return exit_json(x, status_, message);
  }

 private:
  // The request as the plugin saw it, for debugging a route.
  std::string echo(const Exchange& x) const {
    config::Value out = config::Value::object();
    std::string message = has_message_ ? message_ : default_message(status_);
    if (!message.empty()) out["message"] = message;
    config::Value req = config::Value::object();
    std::string_view path = request_header(x, ":path");
    req["scheme"] = std::string(request_header(x, ":scheme"));
    req["host"] = std::string(request_header(x, ":authority"));
    req["method"] = x.method;
    req["path"] = std::string(path.substr(0, path.find('?')));
    config::Value headers = config::Value::object();
    for (const auto& h : x.request_headers) {
      if (!h.name.empty() && h.name[0] == ':') continue;
      headers[http::to_lower(h.name)] = std::string(h.value);
    }
    req["headers"] = headers;
    out["request"] = req;
    if (x.route != nullptr) out["matched_route"] = {{"name", std::string(x.route_name)}};
    return config::to_json(out);
  }

  int status_;
  std::string message_, body_, content_type_, trigger_;
  bool echo_, has_body_, has_message_;
};

// Kong's schema check for the combinations of message, body and echo.
void check_config(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  auto set = [&](const char* k) { return c.contains(k) && !c[k].is_null(); };
  if (set("message") && (set("content_type") || set("body"))) {
    out.push_back({"", "message cannot be used with content_type or body"});
  } else if (set("content_type") && !set("body")) {
    out.push_back({"", "content_type requires a body"});
  } else if (c.value("echo", false) && (set("content_type") || set("body"))) {
    out.push_back({"", "echo cannot be used with content_type and body"});
  }
}

}  // namespace

PluginType request_termination_type() {
  schema::EntityCheck combos;
  combos.fields = {"message", "content_type", "body", "echo"};
  combos.custom = check_config;
  Field config = config_record({
      Field("status_code", Type::Integer).req().def(503).range(100, 599),
      Field("message", Type::String),
      Field("content_type", Type::String),
      Field("body", Type::String),
      Field("echo", Type::Boolean).req().def(false),
      typedefs::header_name("trigger"),
  });
  config.record_checks = {combos};
  return {"request-termination", 2, config, [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<RequestTermination>(c);
          }};
}

}  // namespace wg::plugins

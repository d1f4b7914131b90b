#include "plugins/plugin.h"

#include <cstdio>
#include <map>
#include <random>

#include "config/entity_schemas.h"
#include "plugins/bundled.h"

namespace wg::plugins {

void Plugin::set_protocols(const std::vector<std::string>& protocols) {
  http_ = https_ = false;
  for (const auto& p : protocols) {
    http_ = http_ || p == "http";
    https_ = https_ || p == "https";
  }
}

bool Plugin::serves(const pipeline::Exchange& x) const {
  // Most plugins run for both schemes: only a restricted one looks it up.
  if (http_ && https_) return true;
  const http::HeaderMap::Entry* scheme = x.request_headers.find(":scheme");
  bool tls = scheme != nullptr && scheme->value == "https";
  return tls ? https_ : http_;
}

pipeline::Verdict Plugin::on_phase(pipeline::Phase p, pipeline::Exchange& x, pipeline::Slot& s) const {
  if (!serves(x)) return pipeline::Verdict::Continue;
  switch (p) {
    case pipeline::Phase::Rewrite:
      return rewrite(x, s);
    case pipeline::Phase::Access:
      return access(x, s);
    case pipeline::Phase::Response:
      return response(x, s);
    case pipeline::Phase::HeaderFilter:
      return header_filter(x, s);
    default:
      return pipeline::Verdict::Continue;
  }
}

pipeline::Verdict exit_with(pipeline::Exchange& x, int status, std::string body, http::HeaderList headers) {
  x.local_reply = true;
  x.local_status = status;
  x.local_body = std::move(body);
  x.local_headers = std::move(headers);
  return pipeline::Verdict::Respond;
}

pipeline::Verdict exit_json(pipeline::Exchange& x, int status, std::string_view message) {
  config::Value body = config::Value::object();
  body["message"] = std::string(message);
  return exit_with(x, status, config::to_json(body), {{"Content-Type", "application/json; charset=utf-8"}});
}

std::string_view request_header(const pipeline::Exchange& x, std::string_view name) {
  const http::HeaderMap::Entry* e = x.request_headers.find(name);
  return e == nullptr ? std::string_view() : e->value;
}

namespace {

std::map<std::string, PluginType>& registry() {
  static std::map<std::string, PluginType> r;
  return r;
}

}  // namespace

std::vector<const PluginType*> all_plugins() {
  std::vector<const PluginType*> out;
  for (const auto& [name, t] : registry()) out.push_back(&t);
  return out;
}

const PluginType* find_plugin(const std::string& name) {
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : &it->second;
}

void register_types(std::vector<PluginType> types) {
  for (auto& t : types) {
    config::register_plugin_schema(t.name, {t.config, t.no_consumer});
    registry()[t.name] = std::move(t);
  }
}

const std::string& node_id() {
  static const std::string id = [] {
    std::random_device rd;
    unsigned char b[16];
    for (auto& c : b) c = static_cast<unsigned char>(rd());
    b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
    char text[37];
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return std::string(text);
  }();
  return id;
}

}  // namespace wg::plugins

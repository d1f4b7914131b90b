#include "pipeline/properties.h"

#include <charconv>
#include <cstdint>

namespace wg::pipeline {
namespace {

void put_u64(uint64_t v, std::string* out) { out->assign(reinterpret_cast<const char*>(&v), 8); }

// request.* from the request head as the handlers see it.
bool request_property(const Exchange& x, std::string_view key, std::string* out) {
  auto header = [&](std::string_view name) { return x.request_headers.get_exact(name); };
  if (key == "request.path") {
    out->assign(header(":path"));
  } else if (key == "request.url_path") {
    std::string_view p = header(":path");
    out->assign(p.substr(0, p.find('?')));
  } else if (key == "request.query") {
    std::string_view p = header(":path");
    size_t q = p.find('?');
    out->assign(q == std::string_view::npos ? std::string_view() : p.substr(q + 1));
  } else if (key == "request.host") {
    out->assign(header(":authority"));
  } else if (key == "request.method") {
    out->assign(header(":method"));
  } else if (key == "request.scheme") {
    out->assign(header(":scheme"));
  } else if (key == "request.protocol") {
    out->assign(x.protocol);
  } else if (key.rfind("request.headers.", 0) == 0) {
    const http::Header* e = x.request_headers.find(key.substr(16));
    if (e == nullptr) return false;
    out->assign(e->value);
  } else {
    return false;
  }
  return true;
}

}  // namespace

bool get_property(const Exchange& x, std::string_view key, std::string* out) {
  if (!x.properties.empty()) {
    auto it = x.properties.find(std::string(key));
    if (it != x.properties.end()) {
      *out = it->second;
      return true;
    }
  }
  if (key.rfind("request.", 0) == 0) return request_property(x, key, out);
  if (key == "source.address") {
    *out = std::string(x.client_ip) + ":" + std::to_string(x.client_port);
  } else if (key == "source.port") {
    put_u64(x.client_port, out);
  } else if (key == "route_name" || key == "kong.route_name" || key == "wasmgate.route_name") {
    out->assign(x.route_name);
  } else if (key == "cluster_name" || key == "kong.service_name" || key == "wasmgate.service_name") {
    out->assign(x.service_name);
  } else if (key == "response.code" && x.response_phase) {
    std::string_view v = x.response_headers.get_exact(":status");
    if (v.empty()) return false;
    uint64_t code = 0;
    std::from_chars(v.data(), v.data() + v.size(), code);
    put_u64(code, out);
  } else {
    return false;
  }
  return true;
}

bool property_writable(std::string_view key) {
  static constexpr std::string_view kReadOnly[] = {"request.",    "response.", "source.",  "destination.",
                                                   "connection.", "upstream.", "plugin_",  "route_name",
                                                   "cluster_name", "node"};
  if (key.empty()) return false;
  for (std::string_view p : kReadOnly) {
    if (key.substr(0, p.size()) == p) return false;
  }
  return true;
}

}  // namespace wg::pipeline

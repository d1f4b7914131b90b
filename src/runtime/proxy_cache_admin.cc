#include "runtime/proxy_cache_admin.h"

#include <chrono>
#include <memory>

#include "config/value.h"
#include "shared/response_cache.h"

namespace wg::runtime {

namespace {

using shared::CachedResponse;
using shared::ResponseCache;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

admin::Response status_only(int status) {
  admin::Response r;
  r.status = status;
  if (status == 404) r.body = "{\"message\":\"Not found\"}";
  return r;
}

admin::Response method_not_allowed() {
  admin::Response r;
  r.status = 405;
  r.body = "{\"message\":\"Method not allowed\"}";
  return r;
}

// The stored response as Kong's GET shows its strategy's object (headers
// by name, a repeated one as an array; version 1 is Kong's cache format).
std::string entry_json(const CachedResponse& e) {
  config::Value headers = config::Value::object();
  for (const auto& [name, value] : e.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      if (!it->is_array()) *it = config::Value::array({*it});
      it->push_back(value);
    }
  }
  config::Value v = config::Value::object();
  v["status"] = e.status;
  v["headers"] = std::move(headers);
  v["body"] = e.body;
  v["body_len"] = e.body.size();
  v["timestamp"] = e.timestamp_s;
  v["ttl"] = e.ttl_s;
  v["version"] = 1;
  return config::to_json(v);
}

}  // namespace

// Added before Kong's entity routes: API routes match in the order added.
void add_proxy_cache_routes(admin::AdminServer& server) {
  server.add_api_route("/proxy-cache", [](const admin::Request& req) {
    if (req.method != "DELETE") return method_not_allowed();
    ResponseCache::each([](ResponseCache& store) { store.flush(); });
    return status_only(204);
  });
  server.add_api_route("/proxy-cache/{key}", [](const admin::Request& req) {
    if (req.method != "GET" && req.method != "DELETE") return method_not_allowed();
    const std::string& key = req.params.at("key");
    const int64_t now = now_ms();
    std::shared_ptr<const CachedResponse> found;
    ResponseCache* where = nullptr;
    ResponseCache::each([&](ResponseCache& store) {
      if (found != nullptr) return;
      found = store.fetch(key, now);
      if (found != nullptr) where = &store;
    });
    if (found == nullptr) return status_only(404);
    if (req.method == "DELETE") {
      where->purge(key, now);
      return status_only(204);
    }
    admin::Response r;
    r.body = entry_json(*found);
    return r;
  });
}

}  // namespace wg::runtime

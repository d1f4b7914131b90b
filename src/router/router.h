// Kong's router (traditional_compatible flavor), compiled into the config
// snapshot. Each route path is its own entry ("sub-route"), ranked as Kong
// ranks them:
//   1. how many kinds of matcher the route sets (methods, hosts, headers,
//      paths, snis);
//   2. plain hosts only over wildcard hosts;
//   3. more headers;
//   4. a regex path over a prefix path, then higher regex_priority;
//   5. the longer prefix;
//   6. file order (Kong's created_at).
// Matching does not scan every route: entries are indexed by exact host and
// by prefix (one hash lookup per distinct prefix length), so the common
// cases cost the same with 10 or 10,000 routes; regex entries are only run
// while they could still outrank the best match found.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/entities.h"
#include "http/message.h"
#include "router/regex.h"

namespace wg::router {

struct Match {
  int route = -1;         // index into Declarative::routes
  size_t prefix_len = 0;  // length of the matched path prefix (whole regex match for regex paths)
  bool regex = false;
  bool by_path = false;   // the route matched through one of its paths
  Captures captures;      // regex path captures (uri_captures), when regex
  const Regex* re = nullptr;
};

struct RequestKeys {
  std::string_view method;
  std::string_view host;  // Host header as sent, port included
  std::string_view path;  // normalised
  const http::Header* headers = nullptr;
  size_t num_headers = 0;
  std::string_view sni;  // empty on plaintext connections
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // active[i] false leaves route i out (e.g. its service is disabled).
  void build(const std::vector<config::Route>& routes, const std::vector<bool>& active);
  Match match(const RequestKeys& req) const;
  size_t size() const;

 private:
  struct Index;
  std::unique_ptr<Index> index_;
};

// Kong's path_handling v0: joins the service path and the request path.
// `postfix` is the request path after the stripped prefix when the route
// matched by path, or the path without its leading slash otherwise. (v1 is
// ignored by Kong's traditional_compatible router, and so here.)
void upstream_path_v0(std::string_view service_path, bool strip_path, std::string_view request_path,
                      std::string_view postfix, std::string& out);

// Kong's sanitize_uri_postfix: a postfix may not start with a dot segment,
// which would climb out of the service path ("/r.." -> "", "/r../x" -> "x").
std::string_view sanitize_postfix(std::string_view postfix);

}  // namespace wg::router

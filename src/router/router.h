// Route matching with Kong's traditional priorities: routes that set more
// kinds of field first, then the longest path, then file order (Kong's
// created_at). Each route path becomes its own entry, as Kong splits them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/entities.h"

namespace wg::router {

struct Match {
  int route = -1;           // index into Declarative::routes
  size_t prefix_len = 0;    // length of the matched path prefix
};

struct RequestKeys {
  std::string_view method;
  std::string_view host;  // Host header as sent, port included
  std::string_view path;  // normalised
};

class Router {
 public:
  // active[i] false leaves route i out (e.g. its service is disabled).
  void build(const std::vector<config::Route>& routes, const std::vector<bool>& active);
  Match match(const RequestKeys& req) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int route;
    uint8_t kinds;  // how many of methods, hosts, paths are set
    std::string path;
    const std::vector<std::string>* hosts;
    const std::vector<std::string>* methods;
  };
  std::vector<Entry> entries_;
};

// Kong's path_handling v0: joins the service path and the request path.
// `postfix` is the request path after the stripped prefix (the whole path
// when strip_path is off).
void upstream_path_v0(std::string_view service_path, bool strip_path, std::string_view request_path,
                      std::string_view postfix, std::string& out);

}  // namespace wg::router

// Kong 3.x entities as the gateway understands them, after validation.
// Defaults are Kong's (kong/db/schema/entities/*.lua).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wg::config {

struct Service {
  std::string id;
  std::string name;
  std::string protocol = "http";
  std::string host;
  int port = 80;
  std::string path;  // empty means "/"
  int retries = 5;
  int connect_timeout_ms = 60000;
  int write_timeout_ms = 60000;
  int read_timeout_ms = 60000;
  bool enabled = true;
};

struct HeaderMatcher {
  std::string name;                 // lower-cased
  std::vector<std::string> values;  // as written; "~*" prefix: case-insensitive regex
};

struct Route {
  std::string id;
  std::string name;
  std::vector<std::string> protocols = {"http", "https"};
  std::vector<std::string> paths;    // prefixes, or "~" + regex
  std::vector<std::string> hosts;    // lower-cased; may hold one leading or trailing "*" label
  std::vector<std::string> methods;  // upper-case tokens
  std::vector<HeaderMatcher> headers;
  std::vector<std::string> snis;
  int regex_priority = 0;
  bool path_handling_v1 = false;  // Kong's deprecated v1 joining
  int https_redirect_status_code = 426;
  bool strip_path = true;
  bool preserve_host = false;
  bool request_buffering = true;
  bool response_buffering = true;
  std::vector<std::string> tags;
  int service = -1;  // index into Declarative::services, -1 when none

  bool allows(std::string_view protocol) const {
    for (const auto& p : protocols) {
      if (p == protocol) return true;
    }
    return false;
  }
};

struct Declarative {
  std::vector<Service> services;
  std::vector<Route> routes;  // in file order, which stands in for created_at
};

}  // namespace wg::config

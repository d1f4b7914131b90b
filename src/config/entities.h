// Kong 3.x entities as the gateway understands them, after validation.
// Defaults are Kong's (kong/db/schema/entities/*.lua).
#pragma once

#include <cstdint>
#include <string>
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

struct Route {
  std::string id;
  std::string name;
  std::vector<std::string> paths;    // prefixes, as written
  std::vector<std::string> hosts;    // lower-cased
  std::vector<std::string> methods;  // upper-case tokens
  bool strip_path = true;
  bool preserve_host = false;
  int service = -1;  // index into Declarative::services, -1 when none
};

struct Declarative {
  std::vector<Service> services;
  std::vector<Route> routes;  // in file order, which stands in for created_at
};

}  // namespace wg::config

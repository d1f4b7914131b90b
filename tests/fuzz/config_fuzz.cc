// load_text on arbitrary text must neither crash nor throw. A config that
// loads is compiled (only when no name needs DNS) and routed.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "config/snapshot.h"
#include "router/router.h"

using namespace wg::config;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

bool no_dns(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a;
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Declarative decl;
  std::vector<std::string> errors;
  bool ok = false;
  try {
    ok = load_text(text, decl, errors);
  } catch (...) {
    abort();  // load_text must report problems, never throw
  }
  check(ok == errors.empty());
  if (!ok) {
    for (const auto& e : errors) check(e.find("' field '") != std::string::npos);
    return 0;
  }
  for (const auto& r : decl.routes) check(r.service >= -1 && r.service < static_cast<int>(decl.services.size()));
  for (const auto& s : decl.services) {
    bool via_upstream = false;
    for (const auto& u : decl.upstreams) via_upstream |= u.name == s.host;
    if (!via_upstream && !no_dns(s.host)) return 0;
  }
  for (const auto& u : decl.upstreams) {
    for (const auto& t : u.targets) {
      if (!no_dns(t.host)) return 0;
    }
  }
  size_t nroutes = decl.routes.size();
  std::shared_ptr<const Snapshot> snap;
  try {
    snap = compile(std::move(decl), 1);
  } catch (...) {
    abort();
  }
  check(snap->services.size() == snap->decl.services.size());
  static const char* kPaths[] = {"/", "/api", "/api/v1/x", "/demo/hello", "/a/b/c", "/items/42", "/%41"};
  static const char* kHosts[] = {"", "example.com", "a.example.com:8000", "localhost", "127.0.0.1:8000"};
  static const char* kMethods[] = {"GET", "POST", "DELETE"};
  for (const char* path : kPaths) {
    for (const char* host : kHosts) {
      for (const char* method : kMethods) {
        wg::router::RequestKeys k;
        k.method = method;
        k.host = host;
        k.path = path;
        wg::router::Match m = snap->router.match(k);
        check(m.route >= -1 && m.route < static_cast<int>(nroutes));
        if (m.route >= 0) {
          const Route& r = snap->decl.routes[m.route];
          check(r.service < 0 || snap->decl.services[r.service].enabled);
          check(m.prefix_len <= std::string_view(path).size());
        }
      }
    }
  }
  return 0;
}

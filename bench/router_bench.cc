// Router micro-benchmark (Google Benchmark): nanoseconds per match with 10,
// 1,000 and 10,000 routes, for prefix-only, host+prefix and mixed
// (prefix/host/regex) route sets. Built by `make bench`, never by tests.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "config/entities.h"
#include "router/router.h"

using wg::config::Route;
using wg::router::RequestKeys;
using wg::router::Router;

namespace {

enum class Mix { Prefix, HostPrefix, Mixed };

std::vector<Route> make_routes(int n, Mix mix) {
  std::vector<Route> routes;
  routes.reserve(n);
  for (int i = 0; i < n; ++i) {
    Route r;
    r.name = "r" + std::to_string(i);
    r.service = 0;
    switch (mix) {
      case Mix::Prefix:
        r.paths = {"/svc" + std::to_string(i) + "/api"};
        break;
      case Mix::HostPrefix:
        r.hosts = {"host" + std::to_string(i) + ".example.com"};
        r.paths = {"/api"};
        break;
      case Mix::Mixed:
        if (i % 10 == 0) {
          r.paths = {"~/re" + std::to_string(i) + "/\\d+$"};
        } else if (i % 2 == 0) {
          r.hosts = {"host" + std::to_string(i) + ".example.com"};
          r.paths = {"/api"};
        } else {
          r.paths = {"/svc" + std::to_string(i) + "/api"};
        }
        break;
    }
    routes.push_back(std::move(r));
  }
  return routes;
}

void run(benchmark::State& state, Mix mix) {
  const int n = static_cast<int>(state.range(0));
  auto routes = make_routes(n, mix);
  Router router;
  router.build(routes, std::vector<bool>(routes.size(), true));
  // Requests aimed at routes spread over the whole set.
  std::vector<std::string> hosts, paths;
  for (int k = 0; k < 64; ++k) {
    int i = (k * 7919) % n;
    if (mix == Mix::Mixed && i % 10 == 0) i = (i + 1) % n;
    bool host_route = mix == Mix::HostPrefix || (mix == Mix::Mixed && i % 2 == 0);
    hosts.push_back(host_route ? "host" + std::to_string(i) + ".example.com" : "example.org");
    paths.push_back(host_route ? "/api/items/42" : "/svc" + std::to_string(i) + "/api/items/42");
  }
  size_t k = 0, misses = 0;
  for (auto _ : state) {
    RequestKeys req;
    req.method = "GET";
    req.host = hosts[k & 63];
    req.path = paths[k & 63];
    auto m = router.match(req);
    misses += m.route < 0;
    benchmark::DoNotOptimize(m);
    ++k;
  }
  if (misses != 0) state.SkipWithError("a request did not match");
}

void BM_PrefixRoutes(benchmark::State& s) { run(s, Mix::Prefix); }
void BM_HostPrefixRoutes(benchmark::State& s) { run(s, Mix::HostPrefix); }
void BM_MixedRoutes(benchmark::State& s) { run(s, Mix::Mixed); }

}  // namespace

BENCHMARK(BM_PrefixRoutes)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_HostPrefixRoutes)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_MixedRoutes)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK_MAIN();

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/entities.h"
#include "http/message.h"
#include "router/normalize.h"
#include "router/router.h"

using wg::config::Route;
using wg::router::Match;
using wg::router::RequestKeys;
using wg::router::Router;

namespace {

Route make_route(std::vector<std::string> paths, std::vector<std::string> hosts = {},
                 std::vector<std::string> methods = {}) {
  Route r;
  r.paths = std::move(paths);
  r.hosts = std::move(hosts);
  r.methods = std::move(methods);
  return r;
}

class RouterMatchTest : public ::testing::Test {
 protected:
  void build(std::vector<Route> routes, std::vector<bool> active = {}) {
    routes_ = std::move(routes);
    router_.build(routes_, active);
  }
  Match match(std::string_view path, std::string_view host = "any.test", std::string_view method = "GET",
              const wg::http::Header* headers = nullptr, size_t n = 0) const {
    RequestKeys k;
    k.method = method;
    k.host = host;
    k.path = path;
    k.headers = headers;
    k.num_headers = n;
    return router_.match(k);
  }
  int route(std::string_view path, std::string_view host = "any.test", std::string_view method = "GET") const {
    return match(path, host, method).route;
  }

  std::vector<Route> routes_;  // the router keeps pointers into these
  Router router_;
};

}  // namespace

TEST_F(RouterMatchTest, EmptyRouterMatchesNothing) {
  build({});
  EXPECT_EQ(router_.size(), 0u);
  EXPECT_EQ(route("/"), -1);
}

TEST_F(RouterMatchTest, PrefixMatch) {
  build({make_route({"/api"})});
  struct Case {
    const char* path;
    int route;
  } cases[] = {
      {"/api", 0}, {"/api/", 0}, {"/api/v1/x", 0}, {"/apix", 0},  // Kong prefixes are plain string prefixes
      {"/ap", -1}, {"/", -1},    {"/API", -1},     {"/x/api", -1},
  };
  for (const auto& c : cases) EXPECT_EQ(route(c.path), c.route) << c.path;
  Match m = match("/api/v1");
  EXPECT_EQ(m.prefix_len, 4u);
  EXPECT_TRUE(m.by_path);
  EXPECT_FALSE(m.regex);
}

TEST_F(RouterMatchTest, LongestPrefixWins) {
  build({make_route({"/"}), make_route({"/a"}), make_route({"/a/b/c"}), make_route({"/a/b"})});
  EXPECT_EQ(route("/"), 0);
  EXPECT_EQ(route("/x"), 0);
  EXPECT_EQ(route("/a"), 1);
  EXPECT_EQ(route("/a/x"), 1);
  EXPECT_EQ(route("/a/b"), 3);
  EXPECT_EQ(route("/a/b/"), 3);
  EXPECT_EQ(route("/a/b/c/d"), 2);
  EXPECT_EQ(match("/a/b/c/d").prefix_len, 6u);
}

TEST_F(RouterMatchTest, MoreMatcherKindsBeatLongerPath) {
  // Kong: a route with hosts + paths outranks one with only a longer path.
  build({make_route({"/a/b/c/d"}), make_route({"/a"}, {"example.com"}), make_route({"/a"}, {}, {"GET"})});
  EXPECT_EQ(route("/a/b/c/d", "example.com"), 1);
  EXPECT_EQ(route("/a/b/c/d", "other.com"), 2);
  EXPECT_EQ(route("/a/b/c/d", "other.com", "POST"), 0);
  // Three kinds beat two.
  build({make_route({"/a"}, {"example.com"}), make_route({"/"}, {"example.com"}, {"GET"})});
  EXPECT_EQ(route("/a/x", "example.com"), 1);
  EXPECT_EQ(route("/a/x", "example.com", "PUT"), 0);
}

TEST_F(RouterMatchTest, HostMatchingAndPorts) {
  build({make_route({}, {"example.com"}), make_route({}, {"ported.com:8080"}), make_route({"/fallback"})});
  struct Case {
    const char* host;
    int route;
  } cases[] = {
      {"example.com", 0},       {"example.com:8000", 0},  {"EXAMPLE.com", 0}, {"Example.Com:1", 0},
      {"www.example.com", -1},  {"example.co", -1},       {"ported.com:8080", 1},
      {"PORTED.COM:8080", 1},   {"ported.com", -1},       {"ported.com:9090", -1},
      {"", -1},
  };
  for (const auto& c : cases) EXPECT_EQ(route("/", c.host), c.route) << c.host;
  EXPECT_EQ(route("/fallback", "nowhere"), 2);
  EXPECT_EQ(route("/fallback", "example.com"), 0);  // one matcher kind each: plain hosts outrank paths
}

TEST_F(RouterMatchTest, WildcardHosts) {
  build({make_route({}, {"*.example.com"}), make_route({}, {"api.*"}), make_route({}, {"exact.example.com"})});
  EXPECT_EQ(route("/", "a.example.com"), 0);
  EXPECT_EQ(route("/", "a.b.example.com:81"), 0);
  EXPECT_EQ(route("/", "example.com"), -1);
  EXPECT_EQ(route("/", "api.test"), 1);
  EXPECT_EQ(route("/", "API.test:8000"), 1);
  EXPECT_EQ(route("/", "api."), -1);
  // A plain host outranks a wildcard one.
  EXPECT_EQ(route("/", "exact.example.com"), 2);
}

TEST_F(RouterMatchTest, Methods) {
  build({make_route({"/m"}, {}, {"GET", "HEAD"}), make_route({"/m"}, {}, {"POST"})});
  EXPECT_EQ(route("/m", "h", "GET"), 0);
  EXPECT_EQ(route("/m", "h", "HEAD"), 0);
  EXPECT_EQ(route("/m", "h", "POST"), 1);
  EXPECT_EQ(route("/m", "h", "PUT"), -1);
  EXPECT_EQ(route("/m", "h", "get"), -1);  // methods are case-sensitive tokens
}

TEST_F(RouterMatchTest, FileOrderBreaksTies) {
  build({make_route({"/same"}), make_route({"/same"}), make_route({"/other", "/same"})});
  EXPECT_EQ(route("/same"), 0);
  build({make_route({"/same"}), make_route({"/same"})}, {false, true});
  EXPECT_EQ(route("/same"), 1);  // inactive routes are left out
  EXPECT_EQ(router_.size(), 1u);
}

TEST_F(RouterMatchTest, HeadersMatch) {
  Route r = make_route({"/h"});
  r.headers.push_back({"x-version", {"v1", "~*^beta-\\d+$"}});
  build({make_route({"/h"}), r});
  wg::http::Header hs[2];
  hs[0].name = "X-Version";
  hs[0].value = "V1";
  EXPECT_EQ(match("/h", "h", "GET", hs, 1).route, 1);
  hs[0].value = "BETA-42";
  EXPECT_EQ(match("/h", "h", "GET", hs, 1).route, 1);
  hs[0].value = "v2";
  EXPECT_EQ(match("/h", "h", "GET", hs, 1).route, 0);
  EXPECT_EQ(match("/h").route, 0);
}

TEST_F(RouterMatchTest, RegexPaths) {
  Route re = make_route({"~/items/(?<id>\\d+)$"});
  Route prefix = make_route({"/items"});
  build({prefix, re});
  Match m = match("/items/42");
  EXPECT_EQ(m.route, 1);  // regex outranks prefix
  EXPECT_TRUE(m.regex);
  EXPECT_EQ(m.prefix_len, 9u);
  ASSERT_GE(m.captures.count, 2);
  EXPECT_EQ(m.captures.begin[1], 7u);
  EXPECT_EQ(m.captures.end[1], 9u);
  EXPECT_EQ(route("/items/abc"), 0);
  EXPECT_EQ(route("/x/items/42"), -1);  // regex paths are anchored
}

TEST_F(RouterMatchTest, NoMatchReturnsDefault) {
  build({make_route({"/a"}, {"h.test"}, {"GET"})});
  Match m = match("/b", "h.test");
  EXPECT_EQ(m.route, -1);
  EXPECT_EQ(m.prefix_len, 0u);
  EXPECT_FALSE(m.regex);
  EXPECT_EQ(route("/a", "other.test"), -1);
  EXPECT_EQ(route("/a", "h.test", "POST"), -1);
}

TEST_F(RouterMatchTest, HostWithoutPathsMatchesAnyPath) {
  build({make_route({}, {"h.test"})});
  Match m = match("/anything/at/all", "h.test");
  EXPECT_EQ(m.route, 0);
  EXPECT_FALSE(m.by_path);
}

// ------------------------------------------------------- path_handling v0

namespace {

// Kong's get_upstream_uri_v0 (kong/router/utils.lua), transcribed literally,
// used as the oracle for the table below.
std::string kong_v0(std::string base, bool strip, const std::string& req, const std::string& postfix) {
  if (base.empty()) base = "/";
  if (base.back() == '/') {
    if (strip) {
      if (postfix.empty()) {
        if (base == "/") return "/";
        if (req.back() == '/') return base;
        return base.substr(0, base.size() - 1);
      }
      if (postfix[0] == '/') return base.substr(0, base.size() - 1) + postfix;
      return base + postfix;
    }
    return base + req.substr(1);
  }
  if (strip) {
    if (postfix.empty()) {
      if (req.size() > 1 && req.back() == '/') return base + "/";
      return base;
    }
    if (postfix[0] == '/') return base + postfix;
    return base + "/" + postfix;
  }
  if (req == "/") return base;
  return base + req;
}

std::string v0(std::string_view base, bool strip, std::string_view req, std::string_view postfix) {
  std::string out = "garbage";
  wg::router::upstream_path_v0(base, strip, req, postfix, out);
  return out;
}

}  // namespace

TEST(UpstreamPathV0, KongTable) {
  // Route path "/r"; postfix is what the session passes: after the matched
  // prefix when stripping, otherwise the path without its leading slash.
  struct Case {
    const char* service_path;
    bool strip;
    const char* request;
    const char* expected;
  } cases[] = {
      // No service path (Kong's default "/").
      {"", true, "/r", "/"},
      {"", true, "/r/", "/"},
      {"", true, "/r/x", "/x"},
      {"", true, "/r/x/", "/x/"},
      {"", false, "/r", "/r"},
      {"", false, "/r/", "/r/"},
      {"", false, "/r/x", "/r/x"},
      {"", false, "/r/x/", "/r/x/"},
      // "/s"
      {"/s", true, "/r", "/s"},
      {"/s", true, "/r/", "/s/"},
      {"/s", true, "/r/x", "/s/x"},
      {"/s", true, "/r/x/", "/s/x/"},
      {"/s", false, "/r", "/s/r"},
      {"/s", false, "/r/", "/s/r/"},
      {"/s", false, "/r/x", "/s/r/x"},
      {"/s", false, "/r/x/", "/s/r/x/"},
      // "/s/": Kong drops the base's trailing slash when nothing follows and
      // the request did not end in "/" (utils.lua: sub(upstream_base, 1, -2)).
      {"/s/", true, "/r", "/s"},
      {"/s/", true, "/r/", "/s/"},
      {"/s/", true, "/r/x", "/s/x"},
      {"/s/", true, "/r/x/", "/s/x/"},
      {"/s/", false, "/r", "/s/r"},
      {"/s/", false, "/r/", "/s/r/"},
      {"/s/", false, "/r/x", "/s/r/x"},
      {"/s/", false, "/r/x/", "/s/r/x/"},
  };
  for (const auto& c : cases) {
    std::string req = c.request;
    std::string postfix = c.strip ? req.substr(2) : req.substr(1);
    std::string got = v0(c.service_path, c.strip, req, postfix);
    EXPECT_EQ(got, c.expected) << "service.path='" << c.service_path << "' strip=" << c.strip << " req=" << req;
    EXPECT_EQ(got, kong_v0(c.service_path, c.strip, req, postfix)) << "oracle disagrees for " << req;
  }
}

TEST(UpstreamPathV0, KongDocsTable) {
  // The "path_handling v0" rows of Kong's routes docs (request path "req").
  struct Case {
    const char* service_path;
    const char* route_path;
    bool strip;
    const char* request;
    const char* expected;
  } cases[] = {
      {"/s", "/fv0", false, "/fv0req", "/s/fv0req"},
      {"/s", "/tv0", true, "/tv0req", "/s/req"},
      {"/s", "/fv0/", false, "/fv0/req", "/s/fv0/req"},
      {"/s", "/tv0/", true, "/tv0/req", "/s/req"},
      {"/s/", "/fv0", false, "/fv0req", "/s/fv0req"},
      {"/s/", "/tv0", true, "/tv0req", "/s/req"},
      {"/s/", "/fv0/", false, "/fv0/req", "/s/fv0/req"},
      {"/s/", "/tv0/", true, "/tv0/req", "/s/req"},
      {"/s/", "/tv0/", true, "/tv0/", "/s/"},
      {"/s", "/tv0/", true, "/tv0/", "/s/"},
  };
  for (const auto& c : cases) {
    std::string req = c.request;
    std::string route = c.route_path;
    std::string postfix = c.strip ? req.substr(route.size()) : req.substr(1);
    EXPECT_EQ(v0(c.service_path, c.strip, req, postfix), c.expected)
        << c.service_path << " " << c.route_path << " " << req;
  }
}

TEST(UpstreamPathV0, RandomisedAgainstKong) {
  const char* bases[] = {"", "/", "/s", "/s/", "/a/b", "/a/b/"};
  const char* reqs[] = {"/", "/r", "/r/", "/r/x", "/r/x/", "/rr", "/r//x"};
  const char* prefixes[] = {"/", "/r", "/r/"};
  for (const char* b : bases) {
    for (const char* r : reqs) {
      for (const char* p : prefixes) {
        std::string req = r, pre = p;
        if (req.compare(0, pre.size(), pre) != 0) continue;
        for (bool strip : {true, false}) {
          std::string postfix = strip ? req.substr(pre.size()) : req.substr(1);
          EXPECT_EQ(v0(b, strip, req, postfix), kong_v0(b, strip, req, postfix))
              << "base=" << b << " req=" << req << " prefix=" << pre << " strip=" << strip;
        }
      }
    }
  }
}

TEST(UpstreamPathV0, SanitizePostfix) {
  // Kong's sanitize_uri_postfix: a leading dot segment is dropped.
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"", ""},        {".", ""},      {"..", ""},      {"./x", "x"},   {"../x", "x"},
      {"/x", "/x"},    {".x", ".x"},   {"...", "..."},  {"..x", "..x"}, {"../../x", "../x"},
      {"/..", "/.."},
  };
  for (const auto& c : cases) EXPECT_EQ(wg::router::sanitize_postfix(c.in), c.out) << c.in;
  // Route "/r", request "/r../etc": the postfix cannot climb out of "/s".
  std::string req = "/r../etc";
  EXPECT_EQ(v0("/s", true, req, wg::router::sanitize_postfix(req.substr(2))), "/s/etc");
}

// ---------------------------------------------------------- normalize_path

TEST(NormalizePath, Table) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/%41", "/A"},
      {"/%7e%2D%5F%2e%30", "/~-_.0"},
      {"/a%2fb", "/a%2Fb"},
      {"/a%2Fb", "/a%2Fb"},
      {"/%e2%82%ac", "/%E2%82%AC"},
      {"/%20x", "/%20x"},
      {"/a/./b/../c", "/a/c"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/a/b/../", "/a/"},
      {"/..", "/"},
      {"/../..", "/"},
      {"/../a", "/a"},
      {"/.", "/"},
      {"/./", "/"},
      {"/a/..b", "/a/..b"},
      {"/a/.b/", "/a/.b/"},
      {"/a/...", "/a/..."},
      {"//a///b//", "/a/b/"},
      {"//", "/"},
      {"/a//../b", "/b"},
      {"/a/%2E%2E/b", "/b"},  // decoded dots are dot segments (as in Kong)
      {"/a/%2e/b", "/a/b"},
      {"/a/b/c/../../d", "/a/d"},
  };
  for (const auto& c : cases) {
    std::string scratch;
    std::string_view out;
    ASSERT_TRUE(wg::router::normalize_path(c.in, scratch, &out)) << c.in;
    EXPECT_EQ(out, c.out) << c.in;
  }
}

TEST(NormalizePath, MalformedEscapes) {
  for (const char* in : {"/%", "/%4", "/%zz", "/%4g", "/a%", "/a%2", "/%%41", "/%g1"}) {
    std::string scratch;
    std::string_view out;
    EXPECT_FALSE(wg::router::normalize_path(in, scratch, &out)) << in;
  }
}

TEST(NormalizePath, AlreadyNormalReturnsInputWithoutCopy) {
  for (const char* in : {"/", "/a/b/c", "/a/b/", "/a.b/c..d", "/.well-known/x", "/a/..b"}) {
    std::string scratch = "untouched";
    std::string_view view(in);
    std::string_view out;
    ASSERT_TRUE(wg::router::normalize_path(view, scratch, &out));
    EXPECT_EQ(out.data(), view.data()) << in;
    EXPECT_EQ(out.size(), view.size()) << in;
    EXPECT_EQ(scratch, "untouched") << in;
  }
  // A path that needs work lands in scratch.
  std::string scratch;
  std::string_view in = "/a//b";
  std::string_view out;
  ASSERT_TRUE(wg::router::normalize_path(in, scratch, &out));
  EXPECT_EQ(out, "/a/b");
  EXPECT_EQ(out.data(), scratch.data());
}

TEST(NormalizePath, Idempotent) {
  for (const char* in : {"/a/./b/../c", "//x//%41%2f/..", "/%7E/./.", "/a/b/c/../../.."}) {
    std::string s1, s2;
    std::string_view o1, o2;
    ASSERT_TRUE(wg::router::normalize_path(in, s1, &o1));
    std::string copy(o1);
    ASSERT_TRUE(wg::router::normalize_path(copy, s2, &o2));
    EXPECT_EQ(o2, copy) << in;
  }
}

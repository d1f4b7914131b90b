// Kong 3.x router conformance (router_flavor = traditional_compatible).
//
// Every expectation below is derived from Kong's own documentation and
// source, never from this gateway's code:
//   * docs.konghq.com "Proxy Reference" (app/_src/gateway/how-kong-works/
//     routing-traffic.md): the matching examples, wildcard hosts, headers,
//     paths, regex evaluation order, capture groups, strip_path with regex,
//     normalisation rules and the "Matching priorities" tie-breakers;
//   * kong/router/transform.lua get_priority(): the 64-bit priority
//     (match-field count > plain-hosts-only > header count > regex path >
//     regex_priority > longest prefix), get_expression() (hosts with a port,
//     "~*" header regexes are unanchored and case-insensitive, header values
//     compared lower-cased, snis ignored unless the request is https);
//   * kong/router/utils.lua get_upstream_uri (path_handling v0) and the v1
//     branch of kong/router/traditional.lua, with sanitize_uri_postfix;
//   * kong/router/atc.lua set_upstream_uri(): the request prefix is the
//     matched path when strip_path is on, "/" otherwise.
// Each expectation cites the Kong source or doc it was derived from.

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "config/entities.h"
#include "config/loader.h"
#include "config/snapshot.h"
#include "http/message.h"
#include "router/normalize.h"
#include "router/router.h"

using wg::config::HeaderMatcher;
using wg::config::Route;
using wg::router::Match;
using wg::router::RequestKeys;
using wg::router::Router;

namespace {

// ------------------------------------------------------------------ helpers

struct RouteSpec {
  std::string name;
  std::vector<std::string> paths = {};
  std::vector<std::string> hosts = {};
  std::vector<std::string> methods = {};
  std::vector<std::pair<std::string, std::vector<std::string>>> headers = {};
  std::vector<std::string> snis = {};
  int regex_priority = 0;
  std::vector<std::string> protocols = {"http", "https"};
};

Route make_route(const RouteSpec& s) {
  Route r;
  r.name = s.name;
  r.paths = s.paths;
  for (auto h : s.hosts) {
    for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.hosts.push_back(h);
  }
  r.methods = s.methods;
  for (const auto& [name, values] : s.headers) {
    HeaderMatcher m;
    m.name = name;
    for (auto& c : m.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    m.values = values;
    r.headers.push_back(m);
  }
  r.snis = s.snis;
  r.regex_priority = s.regex_priority;
  r.protocols = s.protocols;
  r.service = 0;
  return r;
}

struct Req {
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers = {};
  std::string sni = "";
};

using Specs = std::vector<RouteSpec>;

class Table {
 public:
  explicit Table(const Specs& specs) {
    for (const auto& s : specs) routes_.push_back(make_route(s));
    router_.build(routes_, std::vector<bool>(routes_.size(), true));
  }
  struct FromRoutes {};
  Table(FromRoutes, std::vector<Route> routes) : routes_(std::move(routes)) {
    router_.build(routes_, std::vector<bool>(routes_.size(), true));
  }

  Match match(const Req& r) const {
    std::vector<wg::http::Header> hs;
    for (const auto& [n, v] : r.headers) {
      wg::http::Header h;
      h.name = n;
      h.value = v;
      hs.push_back(h);
    }
    RequestKeys k;
    k.method = r.method;
    k.host = r.host;
    k.path = r.path;
    k.headers = hs.empty() ? nullptr : hs.data();
    k.num_headers = hs.size();
    k.sni = r.sni;
    return router_.match(k);
  }
  // Name of the matched route, or "" for no match.
  std::string name(const Req& r) const {
    Match m = match(r);
    return m.route < 0 ? std::string() : routes_[static_cast<size_t>(m.route)].name;
  }
  const Router& router() const { return router_; }

 private:
  std::vector<Route> routes_;
  Router router_;
};

std::string describe(const Req& r) {
  std::string s = r.method + " " + r.path + " Host: " + r.host;
  for (const auto& [n, v] : r.headers) s += " " + n + ": " + v;
  if (!r.sni.empty()) s += " sni=" + r.sni;
  return s;
}

struct Case {
  Req req;
  std::string expect;  // route name, "" = no match
};

void run_cases(const Table& t, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    EXPECT_EQ(t.name(c.req), c.expect) << describe(c.req);
  }
}

// The request prefix Kong strips (atc.lua set_upstream_uri) and the postfix
// after it (utils.lua sanitize_uri_postfix).
// Kong's request_postfix, as the proxy computes it (sanitized).
std::string kong_postfix(const std::string& req, const std::string& prefix) {
  return std::string(wg::router::sanitize_postfix(std::string_view(req).substr(prefix.size())));
}

}  // namespace

// ======================================================== each field alone

TEST(RouterKong, MethodsAlone) {
  // Proxy Reference, "Request HTTP method": ["GET","HEAD"] matches GET / and
  // HEAD /resource, but not POST or DELETE. Methods are case-sensitive tokens.
  Table t(Specs{{.name = "get-head", .methods = {"GET", "HEAD"}}});
  run_cases(t, {
                   {{.method = "GET", .path = "/"}, "get-head"},
                   {{.method = "HEAD", .path = "/resource"}, "get-head"},
                   {{.method = "POST", .path = "/"}, ""},
                   {{.method = "DELETE", .path = "/"}, ""},
                   {{.method = "get", .path = "/"}, ""},
               });
}

TEST(RouterKong, HostsExact) {
  // "Request header": hosts ["example.com","foo-service.com"].
  Table t(Specs{{.name = "h", .hosts = {"example.com", "foo-service.com"}}});
  run_cases(t, {
                   {{.host = "example.com"}, "h"},
                   {{.host = "foo-service.com"}, "h"},
                   // Kong splits the port off the Host header before
                   // comparing a port-less route host (transform.lua).
                   {{.host = "example.com:8000"}, "h"},
                   {{.host = "foo.com"}, ""},
                   {{.host = "www.example.com"}, ""},
                   {{.host = "example.co"}, ""},
                   {{.host = ""}, ""},
               });
}

TEST(RouterKong, HostsWildcardLeading) {
  // "*.example.com would allow Host values such as a.example.com and
  // x.y.example.com" (postfix match on ".example.com").
  Table t(Specs{{.name = "w", .hosts = {"*.example.com", "service.com"}}});
  run_cases(t, {
                   {{.host = "an.example.com"}, "w"},
                   {{.host = "a.example.com"}, "w"},
                   {{.host = "x.y.example.com"}, "w"},
                   {{.host = "a.example.com:8000"}, "w"},
                   {{.host = "service.com"}, "w"},
                   {{.host = "example.com"}, ""},
                   {{.host = "a.example.org"}, ""},
                   {{.host = "aexample.com"}, ""},
               });
}

TEST(RouterKong, HostsWildcardTrailing) {
  // "example.* would allow Host values such as example.com and example.org"
  // (prefix match on "example.").
  Table t(Specs{{.name = "w", .hosts = {"example.*"}}});
  run_cases(t, {
                   {{.host = "example.com"}, "w"},
                   {{.host = "example.org"}, "w"},
                   {{.host = "example.co.uk"}, "w"},
                   {{.host = "example.org:8443"}, "w"},
                   {{.host = "www.example.com"}, ""},
                   {{.host = "example"}, ""},
                   {{.host = "examples.com"}, ""},
               });
}

TEST(RouterKong, HostsWithPort) {
  // transform.lua: a route host "example.com:8000" is compiled as
  // (http.host == "example.com" && port == 8000); the Host header's port
  // (the port the client addressed) must equal it.
  Table t(Specs{{.name = "p", .hosts = {"example.com:8000"}}, {.name = "other", .hosts = {"other.com"}}});
  run_cases(t, {
                   {{.host = "example.com:8000"}, "p"},
                   {{.host = "example.com:8001"}, ""},
                   {{.host = "other.com:8000"}, "other"},
               });
}

TEST(RouterKong, HeadersExact) {
  // "Additional request headers": version: [v1, v2] -> v1, v2 match, v3 not.
  // get_expression lower-cases both sides: "Region: North" matches north.
  Table t(Specs{{.name = "ver", .headers = {{"version", {"v1", "v2"}}}},
           {.name = "region", .headers = {{"region", {"north"}}}}});
  run_cases(t, {
                   {{.headers = {{"version", "v1"}}}, "ver"},
                   {{.headers = {{"version", "v2"}}}, "ver"},
                   {{.headers = {{"Version", "V1"}}}, "ver"},
                   {{.headers = {{"version", "v3"}}}, ""},
                   {{.headers = {{"Region", "North"}}}, "region"},
                   {{.headers = {}}, ""},
                   // any() over repeated headers: one matching value suffices.
                   {{.headers = {{"version", "v9"}, {"version", "v2"}}}, "ver"},
                   // a comma-joined value is one value, not a list.
                   {{.headers = {{"version", "v1, v2"}}}, ""},
               });
}

TEST(RouterKong, HeadersAreAnd) {
  // "The headers keys are a logical AND and their values a logical OR."
  Table t(Specs{{.name = "both", .headers = {{"x-a", {"1", "2"}}, {"x-b", {"3"}}}}});
  run_cases(t, {
                   {{.headers = {{"x-a", "2"}, {"x-b", "3"}}}, "both"},
                   {{.headers = {{"x-a", "1"}}}, ""},
                   {{.headers = {{"x-b", "3"}}}, ""},
               });
}

TEST(RouterKong, HeadersRegex) {
  // "~*" values: OP_REGEX on the lower-cased header value; the ATC regex
  // operator searches (it is not anchored unless the pattern says so).
  Table t(Specs{{.name = "re", .headers = {{"x-version", {"~*^v\\d+$"}}}},
           {.name = "search", .headers = {{"x-tag", {"~*beta"}}}}});
  run_cases(t, {
                   {{.headers = {{"x-version", "v12"}}}, "re"},
                   {{.headers = {{"x-version", "V7"}}}, "re"},
                   {{.headers = {{"x-version", "v"}}}, ""},
                   {{.headers = {{"x-version", "xv1"}}}, ""},
                   {{.headers = {{"x-tag", "release-BETA-2"}}}, "search"},
                   {{.headers = {{"x-tag", "stable"}}}, ""},
               });
}

TEST(RouterKong, PathsPrefix) {
  // "Request path": paths ["/service","/hello/world"].
  Table t(Specs{{.name = "p", .paths = {"/service", "/hello/world"}}});
  run_cases(t, {
                   {{.host = "example.com", .path = "/service"}, "p"},
                   {{.host = "example.com", .path = "/service/resource"}, "p"},
                   {{.host = "anything.com", .path = "/hello/world/resource"}, "p"},
                   // prefix match is on characters, not segments (OP_PREFIX "^=")
                   {{.path = "/servicex"}, "p"},
                   {{.path = "/hello"}, ""},
                   {{.path = "/"}, ""},
                   // case-sensitive
                   {{.path = "/Service"}, ""},
               });
}

TEST(RouterKong, PathsRegex) {
  // "~" paths are regexes anchored at the start ("^" is prepended).
  Table t(Specs{{.name = "re", .paths = {"~/version/\\d+/service"}}});
  run_cases(t, {
                   {{.path = "/version/1/service/path/to/resource"}, "re"},
                   {{.path = "/version/12/service"}, "re"},
                   {{.path = "/version/x/service"}, ""},
                   {{.path = "/x/version/1/service"}, ""},
               });
  Match m = t.match({.path = "/version/1/service/path/to/resource"});
  EXPECT_TRUE(m.regex);
  EXPECT_TRUE(m.by_path);
}

TEST(RouterKong, PlainPathIsNotARegex) {
  // "Any path that isn't prefixed with a ~ will be considered plain text".
  Table t(Specs{{.name = "plain", .paths = {"/users/\\d+/profile"}}});
  run_cases(t, {
                   {{.path = "/users/\\d+/profile"}, "plain"},
                   {{.path = "/users/1/profile"}, ""},
               });
}

TEST(RouterKong, SnisMatchOnlyTheTlsName) {
  // "Request SNI": snis ["foo.test","example.com"] match on the TLS SNI,
  // regardless of the Host header.
  Table t(Specs{{.name = "s", .snis = {"foo.test", "example.com"}, .protocols = {"https"}}});
  run_cases(t, {
                   {{.host = "whatever", .sni = "foo.test"}, "s"},
                   {{.host = "whatever", .sni = "example.com"}, "s"},
                   {{.host = "foo.test", .sni = "bar.test"}, ""},
               });
}

TEST(RouterKong, SnisRouteWithOtherMatchersStillNeedsThem) {
  Table t(Specs{{.name = "s", .paths = {"/s"}, .snis = {"foo.test"}}});
  run_cases(t, {
                   {{.path = "/s/x", .sni = "foo.test"}, "s"},
                   {{.path = "/t", .sni = "foo.test"}, ""},
                   {{.path = "/s/x", .sni = "bar.test"}, ""},
               });
}

TEST(RouterKong, SnisAreIgnoredForPlaintextRequests) {
  // Kong PR #6517 (fixes #6425) and transform.lua get_expression():
  //   (net.protocol != "https" || tls.sni == "foo.test")
  // i.e. on a plaintext request the snis condition is not considered, so a
  // dual-stack route with snis + paths matches plain HTTP on its path.
  Table t(Specs{{.name = "dual", .paths = {"/dual"}, .snis = {"foo.test"}}});
  EXPECT_EQ(t.name(Req{.path = "/dual/x", .sni = ""}), "dual");
  EXPECT_EQ(t.name(Req{.path = "/other", .sni = ""}), "");
}

// ================================================================ combined

TEST(RouterKong, CombinedDocExample) {
  // Proxy Reference "Routes and matching capabilities".
  Table t(Specs{{.name = "r",
            .paths = {"/foo", "/bar"},
            .hosts = {"example.com", "foo-service.com"},
            .methods = {"GET"}}});
  run_cases(t, {
                   {{.method = "GET", .host = "example.com", .path = "/foo"}, "r"},
                   {{.method = "GET", .host = "foo-service.com", .path = "/bar"}, "r"},
                   {{.method = "GET", .host = "example.com", .path = "/foo/hello/world"}, "r"},
                   {{.method = "GET", .host = "example.com", .path = "/"}, ""},
                   {{.method = "POST", .host = "example.com", .path = "/foo"}, ""},
                   {{.method = "GET", .host = "foo.com", .path = "/foo"}, ""},
               });
}

TEST(RouterKong, CombinedAllFields) {
  Table t(Specs{{.name = "all",
            .paths = {"~/api/v\\d+"},
            .hosts = {"*.example.com"},
            .methods = {"PUT"},
            .headers = {{"x-env", {"prod"}}}}});
  Req ok{.method = "PUT", .host = "a.example.com", .path = "/api/v2/x", .headers = {{"X-Env", "PROD"}}};
  EXPECT_EQ(t.name(ok), "all");
  Req r = ok;
  r.method = "GET";
  EXPECT_EQ(t.name(r), "");
  r = ok;
  r.host = "example.com";
  EXPECT_EQ(t.name(r), "");
  r = ok;
  r.path = "/api/vX";
  EXPECT_EQ(t.name(r), "");
  r = ok;
  r.headers = {{"x-env", "dev"}};
  EXPECT_EQ(t.name(r), "");
}

// ============================================================= tie-breaks

TEST(RouterKong, PriorityMoreFieldKindsFirst) {
  // "Matching priorities": hosts+methods is evaluated before hosts alone.
  for (bool reversed : {false, true}) {
    std::vector<RouteSpec> specs = {{.name = "host-only", .hosts = {"example.com"}},
                                    {.name = "host-post", .hosts = {"example.com"}, .methods = {"POST"}}};
    if (reversed) std::swap(specs[0], specs[1]);
    Table t(specs);
    EXPECT_EQ(t.name({.method = "GET", .host = "example.com"}), "host-only") << reversed;
    EXPECT_EQ(t.name({.method = "POST", .host = "example.com"}), "host-post") << reversed;
  }
}

TEST(RouterKong, PriorityFieldCountBeatsLongerPathAndRegex) {
  // The match-field count is the top 3 bits of the priority: a route with
  // methods+paths beats a longer prefix or a regex with paths only.
  Table t(Specs{{.name = "long", .paths = {"/a/very/long/prefix"}},
           {.name = "regex", .paths = {"~/a/.*"}, .regex_priority = 100},
           {.name = "short+method", .paths = {"/a"}, .methods = {"GET"}}});
  EXPECT_EQ(t.name({.method = "GET", .path = "/a/very/long/prefix/x"}), "short+method");
  EXPECT_EQ(t.name({.method = "POST", .path = "/a/very/long/prefix/x"}), "regex");
}

TEST(RouterKong, PriorityHeadersCountAsAFieldKind) {
  Table t(Specs{{.name = "path", .paths = {"/p"}}, {.name = "path+header", .paths = {"/p"}, .headers = {{"x-a", {"1"}}}}});
  EXPECT_EQ(t.name({.path = "/p", .headers = {{"x-a", "1"}}}), "path+header");
  EXPECT_EQ(t.name({.path = "/p", .headers = {{"x-a", "2"}}}), "path");
}

TEST(RouterKong, PriorityPlainHostsOverWildcard) {
  // "A has only plain Host headers and B has one or more wildcard host headers".
  for (bool reversed : {false, true}) {
    std::vector<RouteSpec> specs = {{.name = "wild", .paths = {"/"}, .hosts = {"*.example.com"}},
                                    {.name = "plain", .paths = {"/"}, .hosts = {"a.example.com"}}};
    if (reversed) std::swap(specs[0], specs[1]);
    Table t(specs);
    EXPECT_EQ(t.name({.host = "a.example.com", .path = "/x"}), "plain") << reversed;
    EXPECT_EQ(t.name({.host = "b.example.com", .path = "/x"}), "wild") << reversed;
  }
  // A route mixing a plain and a wildcard host is not "plain hosts only".
  Table mixed(Specs{{.name = "mixed", .hosts = {"*.example.com", "a.example.com"}},
               {.name = "plain", .hosts = {"a.example.com"}}});
  EXPECT_EQ(mixed.name({.host = "a.example.com"}), "plain");
  // Plain-hosts-only also outranks a route of equal field count without hosts.
  Table cross(Specs{{.name = "path+method", .paths = {"/foo"}, .methods = {"GET"}},
               {.name = "host+path", .paths = {"/foo"}, .hosts = {"example.com"}}});
  EXPECT_EQ(cross.name({.method = "GET", .host = "example.com", .path = "/foo"}), "host+path");
}

TEST(RouterKong, PriorityPlainHostOutranksLongerPrefixAndHeaders) {
  // Bit order: plain-host bit (60) sits above header count (52-59), the regex
  // bit (51), regex_priority and the prefix length.
  Table t(Specs{{.name = "wild-long", .paths = {"/long/path"}, .hosts = {"*.example.com"}, .headers = {{"x-a", {"1"}}}},
           {.name = "plain-short", .paths = {"/l"}, .hosts = {"a.example.com"}, .headers = {{"x-a", {"1"}}}}});
  EXPECT_EQ(t.name({.host = "a.example.com", .path = "/long/path", .headers = {{"x-a", "1"}}}), "plain-short");
}

TEST(RouterKong, PriorityMoreHeaders) {
  // "A has more non-Host headers than B."
  for (bool reversed : {false, true}) {
    std::vector<RouteSpec> specs = {{.name = "one", .paths = {"/"}, .headers = {{"x-a", {"1"}}}},
                                    {.name = "two", .paths = {"/"}, .headers = {{"x-a", {"1"}}, {"x-b", {"2"}}}}};
    if (reversed) std::swap(specs[0], specs[1]);
    Table t(specs);
    EXPECT_EQ(t.name({.path = "/x", .headers = {{"x-a", "1"}, {"x-b", "2"}}}), "two") << reversed;
    EXPECT_EQ(t.name({.path = "/x", .headers = {{"x-a", "1"}}}), "one") << reversed;
  }
  // Header count outranks the regex bit and the prefix length.
  Table t2(Specs{{.name = "regex-1h", .paths = {"~/p/.*"}, .headers = {{"x-a", {"1"}}}, .regex_priority = 9},
            {.name = "prefix-2h", .paths = {"/p"}, .headers = {{"x-a", {"1"}}, {"x-b", {"2"}}}}});
  EXPECT_EQ(t2.name({.path = "/p/q", .headers = {{"x-a", "1"}, {"x-b", "2"}}}), "prefix-2h");
}

TEST(RouterKong, PriorityRegexOverPrefix) {
  // "A has at least one regex path and B has only plain paths", even when
  // the plain prefix is longer.
  for (bool reversed : {false, true}) {
    std::vector<RouteSpec> specs = {{.name = "prefix", .paths = {"/version/any/thing"}},
                                    {.name = "regex", .paths = {"~/version/\\w+"}}};
    if (reversed) std::swap(specs[0], specs[1]);
    Table t(specs);
    EXPECT_EQ(t.name({.path = "/version/any/thing/x"}), "regex") << reversed;
  }
}

TEST(RouterKong, EvaluationOrderDocExample) {
  // Proxy Reference "Evaluation order": /version/\d+/status/\d+ (6),
  // /status/\d+ (0), /version/any/ (0), then the plain /version.
  Table t(Specs{{.name = "status", .paths = {"~/status/\\d+"}, .regex_priority = 0},
           {.name = "version-status", .paths = {"~/version/\\d+/status/\\d+"}, .regex_priority = 6},
           {.name = "version", .paths = {"/version"}},
           {.name = "version-any", .paths = {"~/version/any/"}}});
  run_cases(t, {
                   {{.path = "/version/1/status/2"}, "version-status"},
                   {{.path = "/status/5"}, "status"},
                   {{.path = "/version/any/x"}, "version-any"},
                   {{.path = "/version"}, "version"},
                   {{.path = "/version/2"}, "version"},
                   {{.path = "/status/x"}, ""},
               });
}

TEST(RouterKong, PriorityRegexPriority) {
  // Higher regex_priority first; equal priorities fall back to file order.
  Table hi(Specs{{.name = "digits", .paths = {"~/a/\\d+"}, .regex_priority = 0},
            {.name = "any", .paths = {"~/a/.*"}, .regex_priority = 5}});
  EXPECT_EQ(hi.name({.path = "/a/1"}), "any");
  Table lo(Specs{{.name = "digits", .paths = {"~/a/\\d+"}, .regex_priority = 5},
            {.name = "any", .paths = {"~/a/.*"}, .regex_priority = 0}});
  EXPECT_EQ(lo.name({.path = "/a/1"}), "digits");
  EXPECT_EQ(lo.name({.path = "/a/x"}), "any");
  Table eq1(Specs{{.name = "first", .paths = {"~/a/\\d+"}}, {.name = "second", .paths = {"~/a/.*"}}});
  EXPECT_EQ(eq1.name({.path = "/a/1"}), "first");
  Table eq2(Specs{{.name = "first", .paths = {"~/a/.*"}}, {.name = "second", .paths = {"~/a/\\d+"}}});
  EXPECT_EQ(eq2.name({.path = "/a/1"}), "first");
  // Negative priorities rank below the default 0.
  Table neg(Specs{{.name = "neg", .paths = {"~/n/.*"}, .regex_priority = -1}, {.name = "zero", .paths = {"~/n/x"}}});
  EXPECT_EQ(neg.name({.path = "/n/x"}), "zero");
  // regex_priority has no effect on prefix paths (only regex_url routes
  // carry it in get_priority): the longer prefix still wins.
  Table pre(Specs{{.name = "short", .paths = {"/p"}, .regex_priority = 100}, {.name = "long", .paths = {"/p/q"}}});
  EXPECT_EQ(pre.name({.path = "/p/q/r"}), "long");
}

TEST(RouterKong, PriorityLongestPrefix) {
  // "the longest paths get evaluated first": /service does not shadow
  // /service/resource, in either file order.
  for (bool reversed : {false, true}) {
    std::vector<RouteSpec> specs = {{.name = "short", .paths = {"/service"}},
                                    {.name = "long", .paths = {"/service/resource"}}};
    if (reversed) std::swap(specs[0], specs[1]);
    Table t(specs);
    EXPECT_EQ(t.name({.path = "/service/resource/1"}), "long") << reversed;
    EXPECT_EQ(t.name({.path = "/service/resourc"}), "short") << reversed;
    EXPECT_EQ(t.name({.path = "/service"}), "short") << reversed;
  }
}

TEST(RouterKong, PriorityFileOrderLast) {
  // "A.created_at < B.created_at" (file order stands in for created_at).
  Table t(Specs{{.name = "a", .paths = {"/same"}}, {.name = "b", .paths = {"/same"}}});
  EXPECT_EQ(t.name({.path = "/same/x"}), "a");
  Table h(Specs{{.name = "a", .hosts = {"example.com"}}, {.name = "b", .hosts = {"example.com"}}});
  EXPECT_EQ(h.name({.host = "example.com"}), "a");
}

TEST(RouterKong, SeveralPathsEachRankedByItsOwnLength) {
  // split_routes_and_services_by_path: a route with several paths is ranked
  // per path group, so its short path does not shadow another route's
  // longer one, and its long path beats a shorter one elsewhere.
  Table t(Specs{{.name = "multi", .paths = {"/a", "/b/c/d"}}, {.name = "mid", .paths = {"/a/b", "/b/c"}}});
  run_cases(t, {
                   {{.path = "/a/b/x"}, "mid"},
                   {{.path = "/a/x"}, "multi"},
                   {{.path = "/b/c/d/e"}, "multi"},
                   {{.path = "/b/c/x"}, "mid"},
               });
  Match m = t.match({.path = "/b/c/d/e"});
  EXPECT_EQ(m.prefix_len, 6u);
  m = t.match({.path = "/a/x"});
  EXPECT_EQ(m.prefix_len, 2u);
}

TEST(RouterKong, HostOnlyRouteAndPathRoute) {
  // Equal field count (1): the plain-host bit ranks a hosts route above a
  // paths route; a request for another host falls to the path route.
  Table t(Specs{{.name = "path", .paths = {"/foo"}}, {.name = "host", .hosts = {"example.com"}}});
  EXPECT_EQ(t.name({.host = "example.com", .path = "/foo"}), "host");
  EXPECT_EQ(t.name({.host = "other.com", .path = "/foo"}), "path");
  Match m = t.match({.host = "example.com", .path = "/foo"});
  EXPECT_FALSE(m.by_path);
}

// ================================================ captures and prefix_len

TEST(RouterKong, NamedCaptures) {
  // "Capturing groups": /version/(?<version>\d+)/users/(?<user>\S+) on
  // /version/1/users/john -> { "1", "john", version = "1", user = "john" }.
  Table t(Specs{{.name = "cap", .paths = {"~/version/(?<version>\\d+)/users/(?<user>\\S+)"}}});
  std::string path = "/version/1/users/john";
  Match m = t.match({.path = path});
  ASSERT_GE(m.route, 0);
  ASSERT_TRUE(m.regex);
  ASSERT_NE(m.re, nullptr);
  ASSERT_GE(m.captures.count, 3);
  auto group = [&](int i) { return path.substr(m.captures.begin[i], m.captures.end[i] - m.captures.begin[i]); };
  EXPECT_EQ(group(0), path);
  EXPECT_EQ(group(1), "1");
  EXPECT_EQ(group(2), "john");
  EXPECT_EQ(m.re->group_name(1), "version");
  EXPECT_EQ(m.re->group_name(2), "user");
  EXPECT_EQ(m.prefix_len, path.size());
}

TEST(RouterKong, NumberedCapturesAndPartialMatch) {
  Table t(Specs{{.name = "cap", .paths = {"~/(\\w+)/(\\d+)"}}});
  std::string path = "/orders/42/items";
  Match m = t.match({.path = path});
  ASSERT_GE(m.route, 0);
  ASSERT_GE(m.captures.count, 3);
  auto group = [&](int i) { return path.substr(m.captures.begin[i], m.captures.end[i] - m.captures.begin[i]); };
  EXPECT_EQ(group(1), "orders");
  EXPECT_EQ(group(2), "42");
  EXPECT_EQ(m.re->group_name(1), "");
  // The match is anchored at the start but not at the end: prefix_len is
  // the length of the whole match, "/orders/42".
  EXPECT_EQ(m.prefix_len, 10u);
}

TEST(RouterKong, RegexStripPathStripsTheWholeMatch) {
  // Proxy Reference "The strip_path property": path /version/\d+/service,
  // GET /version/1/service/path/to/resource is proxied as
  // /path/to/resource.
  Table t(Specs{{.name = "re", .paths = {"~/version/\\d+/service"}}});
  std::string path = "/version/1/service/path/to/resource";
  Match m = t.match({.path = path});
  ASSERT_GE(m.route, 0);
  EXPECT_EQ(m.prefix_len, std::string("/version/1/service").size());
  std::string out;
  wg::router::upstream_path_v0("/", true, path, kong_postfix(path, path.substr(0, m.prefix_len)), out);
  EXPECT_EQ(out, "/path/to/resource");
}

// ========================================================== normalisation

TEST(RouterKong, NormalisationRules) {
  // Proxy Reference "Normalization behavior", rules 1-4.
  struct N {
    std::string in, out;
  };
  std::vector<N> cases = {
      {"/foo%3a", "/foo%3A"},         // 1. escapes upper-cased
      {"/fo%6F", "/foo"},             // 2. unreserved escapes decoded
      {"/foo/./bar/../baz", "/foo/baz"},  // 3. dot segments removed
      {"/foo//bar", "/foo/bar"},      // 4. duplicate slashes merged
      {"/a%2Fb", "/a%2Fb"},           // "/" is reserved: kept encoded
      {"/%7euser", "/~user"},         // "~" is unreserved
      {"/plain/path", "/plain/path"},
      {"/", "/"},
  };
  for (const auto& c : cases) {
    std::string scratch;
    std::string_view out;
    ASSERT_TRUE(wg::router::normalize_path(c.in, scratch, &out)) << c.in;
    EXPECT_EQ(std::string(out), c.out) << c.in;
  }
}

TEST(RouterKong, MatchingUsesTheNormalisedPath) {
  // Routes are matched against the normalised path, so the trivial bypasses
  // the normalisation exists for do not bypass anything.
  Table t(Specs{{.name = "admin", .paths = {"/admin"}}, {.name = "root", .paths = {"/"}}});
  for (std::string raw : {"/admin", "/%61dmin", "/x/../admin", "//admin", "/./admin/", "/ADMIN/../admin"}) {
    std::string scratch;
    std::string_view p;
    ASSERT_TRUE(wg::router::normalize_path(raw, scratch, &p)) << raw;
    Req r{.path = std::string(p)};
    EXPECT_EQ(t.name(r), "admin") << raw << " -> " << p;
  }
  std::string scratch;
  std::string_view p;
  ASSERT_TRUE(wg::router::normalize_path("/admin/../public", scratch, &p));
  EXPECT_EQ(t.name({.path = std::string(p)}), "root");
}

// ==================================================== upstream path tables

namespace {

struct PathCase {
  std::string route_path;  // "" = route without paths (host-only)
  bool strip;
  std::string service_path;  // "" = none (Kong uses "/")
  std::string request;
  std::string expect;
};

// Runs one table through the matcher and the joiner, as the proxy does:
// Kong's prefix is the matched path when strip_path is on, else "/".
void run_path_table(const std::vector<PathCase>& cases) {
  for (const auto& c : cases) {
    Route r;
    r.name = "r";
    if (!c.route_path.empty()) r.paths = {c.route_path};
    r.hosts = {"example.com"};
    r.strip_path = c.strip;
    Table t(Table::FromRoutes{}, std::vector<Route>{r});
    Match m = t.match({.host = "example.com", .path = c.request});
    ASSERT_EQ(m.route, 0) << c.route_path << " " << c.request;
    std::string prefix = (c.strip && m.by_path) ? c.request.substr(0, m.prefix_len) : "/";
    std::string postfix = kong_postfix(c.request, prefix);
    std::string out;
    wg::router::upstream_path_v0(c.service_path, c.strip, c.request, postfix, out);
    EXPECT_EQ(out, c.expect) << "v0 route=" << (c.route_path.empty() ? "(none)" : c.route_path)
                             << " strip=" << c.strip << " service=" << (c.service_path.empty() ? "(none)" : c.service_path)
                             << " request=" << c.request;
  }
}

// Expected values derived from kong/router/utils.lua get_upstream_uri (v0);
// they agree with the path_handling table in Kong's Admin API reference
// (e.g. service /s, route /fv0, strip, /fv0req -> /s/req).
std::vector<PathCase> v0_table() {
  std::vector<PathCase> t;
  auto add = [&](std::string rp, bool strip, std::string sp,
                 std::initializer_list<std::pair<const char*, const char*>> rows) {
    for (const auto& [req, exp] : rows) t.push_back({rp, strip, sp, req, exp});
  };
  // route path /r
  add("/r", true, "", {{"/r", "/"}, {"/r/", "/"}, {"/rx", "/x"}, {"/r/x", "/x"}, {"/r/x/", "/x/"}});
  add("/r", true, "/s", {{"/r", "/s"}, {"/r/", "/s/"}, {"/rx", "/s/x"}, {"/r/x", "/s/x"}, {"/r/x/", "/s/x/"}});
  add("/r", true, "/s/", {{"/r", "/s"}, {"/r/", "/s/"}, {"/rx", "/s/x"}, {"/r/x", "/s/x"}, {"/r/x/", "/s/x/"}});
  add("/r", false, "", {{"/r", "/r"}, {"/r/", "/r/"}, {"/rx", "/rx"}, {"/r/x", "/r/x"}, {"/r/x/", "/r/x/"}});
  add("/r", false, "/s",
      {{"/r", "/s/r"}, {"/r/", "/s/r/"}, {"/rx", "/s/rx"}, {"/r/x", "/s/r/x"}, {"/r/x/", "/s/r/x/"}});
  add("/r", false, "/s/",
      {{"/r", "/s/r"}, {"/r/", "/s/r/"}, {"/rx", "/s/rx"}, {"/r/x", "/s/r/x"}, {"/r/x/", "/s/r/x/"}});
  // route path "/" and a host-only route give the same results
  for (std::string rp : {"/", ""}) {
    for (bool strip : {true, false}) {
      add(rp, strip, "",
          {{"/", "/"}, {"/x", "/x"}, {"/r", "/r"}, {"/r/", "/r/"}, {"/rx", "/rx"}, {"/r/x", "/r/x"}, {"/r/x/", "/r/x/"}});
      add(rp, strip, "/s",
          {{"/", "/s"}, {"/x", "/s/x"}, {"/r", "/s/r"}, {"/r/", "/s/r/"}, {"/rx", "/s/rx"}, {"/r/x", "/s/r/x"},
           {"/r/x/", "/s/r/x/"}});
      add(rp, strip, "/s/",
          {{"/", "/s/"}, {"/x", "/s/x"}, {"/r", "/s/r"}, {"/r/", "/s/r/"}, {"/rx", "/s/rx"}, {"/r/x", "/s/r/x"},
           {"/r/x/", "/s/r/x/"}});
    }
  }
  return t;
}

}  // namespace

TEST(RouterKong, UpstreamPathV0) { run_path_table(v0_table()); }

TEST(RouterKong, PathHandlingV1IsIgnoredLikeKongTraditionalCompatible) {
  // routes.lua: "path_handling='v1' is deprecated and will not work under
  // traditional_compatible router_flavor"; atc.lua always joins with v0.
  const char* yaml = R"(_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9001/s
    routes:
      - name: r
        paths: ["/r"]
        strip_path: false
        path_handling: v1
)";
  wg::config::Declarative decl;
  std::vector<std::string> errors;
  ASSERT_TRUE(wg::config::load_text(yaml, decl, errors)) << (errors.empty() ? "" : errors[0]);
  auto snap = wg::config::compile(decl, 1);
  ASSERT_EQ(snap->warnings.size(), 1u);
  EXPECT_NE(snap->warnings[0].find("path_handling"), std::string::npos);
}

TEST(RouterKong, UpstreamPathV0SanitizedPostfix) {
  // utils.lua sanitize_uri_postfix: a postfix of "." / ".." / "./x" / "../x"
  // loses its dot segment. Route /r, service /s, strip_path, request /r..
  // (a normal path: ".." is not a whole segment) -> postfix "" -> "/s".
  std::string out;
  wg::router::upstream_path_v0("/s", true, "/r..", kong_postfix("/r..", "/r"), out);
  EXPECT_EQ(out, "/s");
  wg::router::upstream_path_v0("/s", true, "/r../x", kong_postfix("/r../x", "/r"), out);
  EXPECT_EQ(out, "/s/x");
}

// ====================================================== loading from YAML

TEST(RouterKong, DeclarativeFileOrderAndNestedRoutes) {
  // The same tie-break through config::load_text: routes nested under
  // services keep their file order.
  const char* yaml = R"(_format_version: "3.0"
services:
  - name: s1
    url: http://127.0.0.1:9001
    routes:
      - name: first
        paths: ["/dup"]
      - name: wild
        hosts: ["*.example.com"]
  - name: s2
    url: http://127.0.0.1:9002/base
    routes:
      - name: second
        paths: ["/dup"]
      - name: plain
        hosts: ["api.example.com"]
      - name: regex
        paths: ["~/dup/(?<id>\\d+)$"]
        regex_priority: 3
)";
  wg::config::Declarative d;
  std::vector<std::string> errors;
  ASSERT_TRUE(wg::config::load_text(yaml, d, errors)) << (errors.empty() ? "" : errors[0]);
  Table t(Table::FromRoutes{}, d.routes);
  EXPECT_EQ(t.name({.host = "x.test", .path = "/dup/a"}), "first");
  EXPECT_EQ(t.name({.host = "x.test", .path = "/dup/12"}), "regex");
  EXPECT_EQ(t.name({.host = "api.example.com", .path = "/nothing"}), "plain");
  EXPECT_EQ(t.name({.host = "www.example.com", .path = "/nothing"}), "wild");
}

TEST(RouterKong, DisabledServiceRoutesDoNotMatch) {
  std::vector<Route> routes = {make_route({.name = "off", .paths = {"/x"}}),
                               make_route({.name = "on", .paths = {"/"}})};
  Router r;
  r.build(routes, {false, true});
  RequestKeys k;
  k.method = "GET";
  k.host = "example.com";
  k.path = "/x/y";
  Match m = r.match(k);
  ASSERT_GE(m.route, 0);
  EXPECT_EQ(routes[static_cast<size_t>(m.route)].name, "on");
}

// ================================================================ scaling

TEST(RouterKong, TenThousandPrefixRoutes) {
  // /svc0 .. /svc9999; even routes also require host h<i>.example.com.
  std::vector<Route> routes;
  routes.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    Route r;
    r.name = "svc" + std::to_string(i);
    r.paths = {"/svc" + std::to_string(i)};
    if (i % 2 == 0) r.hosts = {"h" + std::to_string(i) + ".example.com"};
    r.service = 0;
    routes.push_back(std::move(r));
  }
  Table t(Table::FromRoutes{}, std::move(routes));
  run_cases(t, {
                   // first, middle, last: exact host + prefix
                   {{.host = "h0.example.com", .path = "/svc0"}, "svc0"},
                   {{.host = "h0.example.com", .path = "/svc0/x"}, "svc0"},
                   {{.host = "h5000.example.com", .path = "/svc5000/a/b"}, "svc5000"},
                   {{.host = "any.test", .path = "/svc9999"}, "svc9999"},
                   {{.host = "any.test", .path = "/svc9999/z"}, "svc9999"},
                   {{.host = "any.test", .path = "/svc4999/z"}, "svc4999"},
                   // a host-bound route with the wrong host falls back to the
                   // longest prefix among the routes that do match:
                   // /svc5000 (host) -> /svc500 (host) -> /svc50 (host) -> /svc5
                   {{.host = "nope.test", .path = "/svc5000"}, "svc5"},
                   // the host-bound /svc12 outranks the longer host-less /svc123
                   // (/svc1234 itself needs host h1234.example.com)
                   {{.host = "h12.example.com", .path = "/svc1234"}, "svc12"},
                   {{.host = "h1234.example.com", .path = "/svc1234"}, "svc1234"},
                   {{.host = "h12.example.com", .path = "/svc12/x"}, "svc12"},
                   {{.host = "any.test", .path = "/svc"}, ""},
                   {{.host = "any.test", .path = "/other"}, ""},
               });
  // Many lookups over the whole table all land on their own route. (What
  // they cost is measured in bench/router_bench.cc, not asserted here.)
  int hits = 0;
  for (int i = 0; i < 200000; ++i) {
    int n = (i * 7919) % 10000;
    Req r{.host = (n % 2 == 0) ? "h" + std::to_string(n) + ".example.com" : "any.test",
          .path = "/svc" + std::to_string(n) + "/x"};
    hits += t.match(r).route == n;
  }
  EXPECT_EQ(hits, 200000);
}

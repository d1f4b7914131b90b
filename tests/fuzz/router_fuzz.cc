// normalize_path invariants, and Router::match differentially against a
// brute-force scan of every route with Kong's ranking.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "config/entities.h"
#include "http/message.h"
#include "router/normalize.h"
#include "router/regex.h"
#include "router/router.h"

using wg::config::Route;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

// ------------------------------------------------------------ normalize

void check_normalize(const std::string& in) {
  std::string scratch;
  std::string_view out;
  if (!wg::router::normalize_path(in, scratch, &out)) {
    check(in.find('%') != std::string::npos);  // only bad escapes fail
    return;
  }
  if (!in.empty() && in[0] == '/') {
    check(!out.empty() && out[0] == '/');
    check(out.find("//") == std::string_view::npos);
    check(out.find("/./") == std::string_view::npos);
    check(out.find("/../") == std::string_view::npos);
    check(!(out.size() >= 2 && out.substr(out.size() - 2) == "/."));
    check(!(out.size() >= 3 && out.substr(out.size() - 3) == "/.."));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '%') {
      check(i + 2 < out.size());
      for (size_t j = 1; j <= 2; ++j) {
        char c = out[i + j];
        check((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'));
      }
    }
  }
  // Idempotent, and an already-normal path is returned without a copy.
  std::string copy(out);
  std::string scratch2;
  std::string_view out2;
  check(wg::router::normalize_path(copy, scratch2, &out2));
  if (!copy.empty() && copy[0] == '/') check(out2 == copy);
}

// ------------------------------------------------------------ routing

const char* kMethods[] = {"GET", "POST", "PUT", "HEAD"};
const char* kRegexes[] = {"~/r/\\d+$", "~/a(b|c)", "~/x/(?<id>[^/]+)/y", "~/", "~/ab?", "~/[a-c]+/"};
const char* kHeaderNames[] = {"x-a", "x-b"};
const char* kHeaderValues[] = {"1", "2", "v"};

std::string small_string(FuzzedDataProvider& fdp, const char* alphabet, size_t max) {
  size_t n = fdp.ConsumeIntegralInRange<size_t>(0, max);
  std::string s;
  size_t alen = std::char_traits<char>::length(alphabet);
  for (size_t i = 0; i < n; ++i) s.push_back(alphabet[fdp.ConsumeIntegralInRange<size_t>(0, alen - 1)]);
  return s;
}

std::string make_host(FuzzedDataProvider& fdp) {
  std::string h = small_string(fdp, "ab.", 4);
  if (h.empty()) h = "a";
  switch (fdp.ConsumeIntegralInRange<int>(0, 4)) {
    case 0: h = "*." + h; break;
    case 1: h = h + ".*"; break;
    default: break;
  }
  if (fdp.ConsumeBool()) h += fdp.ConsumeBool() ? ":80" : ":81";
  return h;
}

std::string_view strip_port(std::string_view host) {
  size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}
bool has_port(std::string_view h) { return h.find(':') != std::string_view::npos; }

bool wildcard_matches(std::string_view pattern, std::string_view host) {
  if (!has_port(pattern)) host = strip_port(host);
  if (pattern.front() == '*') {
    std::string_view suffix = pattern.substr(1);
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  size_t star = pattern.find('*');
  std::string_view prefix = pattern.substr(0, star), tail = pattern.substr(star + 1);
  if (host.size() <= prefix.size() + tail.size() || host.substr(0, prefix.size()) != prefix) return false;
  if (tail.empty()) return true;
  return host.substr(host.size() - tail.size()) == tail &&
         host.substr(prefix.size(), host.size() - prefix.size() - tail.size()).find(':') == std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

struct Rank {
  int weight, plain_hosts, header_count, regex;
  int64_t regex_priority;
  uint32_t prefix_len;
  uint32_t order;
  bool beats(const Rank& y) const {
    if (weight != y.weight) return weight > y.weight;
    if (plain_hosts != y.plain_hosts) return plain_hosts > y.plain_hosts;
    if (header_count != y.header_count) return header_count > y.header_count;
    if (regex != y.regex) return regex > y.regex;
    if (regex_priority != y.regex_priority) return regex_priority > y.regex_priority;
    if (prefix_len != y.prefix_len) return prefix_len > y.prefix_len;
    return order < y.order;
  }
};

struct Oracle {
  int route = -1;
  size_t prefix_len = 0;
  bool regex = false;
};

Oracle brute_force(const std::vector<Route>& routes, const std::vector<bool>& active, std::string_view method,
                   std::string_view host, std::string_view path, const wg::http::Header* hs, size_t nh) {
  std::string host_lc = host.size() <= 256 ? lower(host) : std::string();
  Oracle best;
  Rank best_rank{};
  bool have = false;
  uint32_t order = 0;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (i < active.size() && !active[i]) continue;
    const Route& r = routes[i];
    bool others = true;
    if (!r.methods.empty()) {
      others = false;
      for (const auto& m : r.methods) others |= m == method;
    }
    if (others && !r.hosts.empty()) {
      bool ok = false;
      if (!host_lc.empty()) {
        for (const auto& h : r.hosts) {
          bool wild = h.find('*') != std::string::npos;
          ok |= wild ? wildcard_matches(h, host_lc) : h == (has_port(h) ? std::string_view(host_lc) : strip_port(host_lc));
        }
      }
      others = ok;
    }
    for (const auto& hm : r.headers) {
      bool any = false;
      for (size_t k = 0; k < nh; ++k) {
        if (!wg::http::iequals(hs[k].name, hm.name)) continue;
        for (const auto& v : hm.values) any |= wg::http::iequals(hs[k].value, v);
      }
      others &= any;
    }
    Rank base{};
    base.weight = !r.methods.empty() + !r.hosts.empty() + !r.headers.empty() + !r.paths.empty() + !r.snis.empty();
    base.plain_hosts = !r.hosts.empty();
    for (const auto& h : r.hosts) base.plain_hosts &= h.find('*') == std::string::npos;
    base.header_count = static_cast<int>(r.headers.size());
    auto offer = [&](Rank rk, size_t plen, bool re) {
      if (!have || rk.beats(best_rank)) {
        have = true;
        best_rank = rk;
        best.route = static_cast<int>(i);
        best.prefix_len = plen;
        best.regex = re;
      }
    };
    if (r.paths.empty()) {
      Rank rk = base;
      rk.order = order++;
      if (others) offer(rk, 0, false);
    }
    for (const auto& p : r.paths) {
      Rank rk = base;
      rk.order = order++;
      if (p.size() > 1 && p[0] == '~') {
        std::string err;
        auto re = wg::router::Regex::compile(std::string_view(p).substr(1), true, false, &err);
        check(re != nullptr);
        rk.regex = 1;
        rk.regex_priority = r.regex_priority;
        rk.prefix_len = 0;
        wg::router::Captures caps;
        if (others && re->match(path, &caps)) offer(rk, caps.end[0], true);
      } else {
        rk.prefix_len = static_cast<uint32_t>(p.size());
        if (others && path.substr(0, p.size()) == p) offer(rk, p.size(), false);
      }
    }
  }
  return best;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  // Part 1: normalize_path on a fuzzer-chosen path.
  std::string raw = fdp.ConsumeRandomLengthString(256);
  check_normalize(raw);
  check_normalize("/" + raw);

  // Part 2: routes.
  std::vector<Route> routes(fdp.ConsumeIntegralInRange<size_t>(0, 8));
  std::vector<bool> active;
  for (auto& r : routes) {
    size_t np = fdp.ConsumeIntegralInRange<size_t>(0, 3);
    for (size_t i = 0; i < np; ++i) {
      if (fdp.ConsumeIntegralInRange<int>(0, 5) == 0) {
        r.paths.push_back(kRegexes[fdp.ConsumeIntegralInRange<size_t>(0, std::size(kRegexes) - 1)]);
      } else {
        r.paths.push_back("/" + small_string(fdp, "ab/", 4));
      }
    }
    size_t nh = fdp.ConsumeIntegralInRange<size_t>(0, 2);
    for (size_t i = 0; i < nh; ++i) r.hosts.push_back(make_host(fdp));
    size_t nm = fdp.ConsumeIntegralInRange<size_t>(0, 2);
    for (size_t i = 0; i < nm; ++i) r.methods.push_back(kMethods[fdp.ConsumeIntegralInRange<size_t>(0, 3)]);
    if (fdp.ConsumeIntegralInRange<int>(0, 3) == 0) {
      wg::config::HeaderMatcher hm;
      hm.name = kHeaderNames[fdp.ConsumeIntegralInRange<size_t>(0, 1)];
      hm.values.push_back(kHeaderValues[fdp.ConsumeIntegralInRange<size_t>(0, 2)]);
      r.headers.push_back(hm);
    }
    r.regex_priority = fdp.ConsumeIntegralInRange<int>(-1, 2);
    if (r.paths.empty() && r.hosts.empty() && r.methods.empty() && r.headers.empty()) r.paths.push_back("/");
    active.push_back(fdp.ConsumeIntegralInRange<int>(0, 7) != 0);
  }
  wg::router::Router router;
  router.build(routes, active);

  // Part 3: requests.
  for (int n = 0; n < 4 && fdp.remaining_bytes() > 0; ++n) {
    std::string method = kMethods[fdp.ConsumeIntegralInRange<size_t>(0, 3)];
    std::string host = small_string(fdp, "abAB.", 5);
    if (fdp.ConsumeBool()) host += fdp.ConsumeBool() ? ":80" : ":81";
    std::string raw_path = "/" + small_string(fdp, "ab/.%1234567890r", 10);
    std::string scratch;
    std::string_view path;
    if (!wg::router::normalize_path(raw_path, scratch, &path)) continue;
    wg::http::Header hs[2];
    size_t nh = fdp.ConsumeIntegralInRange<size_t>(0, 2);
    for (size_t i = 0; i < nh; ++i) {
      hs[i].name = fdp.ConsumeBool() ? "X-A" : "x-b";
      hs[i].value = kHeaderValues[fdp.ConsumeIntegralInRange<size_t>(0, 2)];
    }
    wg::router::RequestKeys k;
    k.method = method;
    k.host = host;
    k.path = path;
    k.headers = hs;
    k.num_headers = nh;
    wg::router::Match m = router.match(k);
    Oracle o = brute_force(routes, active, method, host, path, hs, nh);
    check(m.route == o.route);
    if (m.route >= 0) {
      check(m.prefix_len == o.prefix_len);
      check(m.regex == o.regex);
      check(m.prefix_len <= path.size());
    }
  }
  return 0;
}

#include "router/router.h"

#include <algorithm>
#include <set>

namespace wg::router {
namespace {

bool has_port(std::string_view h) {
  if (!h.empty() && h.front() == '[') return h.find("]:") != std::string_view::npos;
  return h.find(':') != std::string_view::npos;
}

bool is_wildcard(std::string_view h) { return h.find('*') != std::string_view::npos; }

// "*.example.com" matches any name ending in ".example.com"; "example.*"
// any name starting with "example.". Ports follow the same rule as exact hosts.
bool wildcard_matches(std::string_view pattern, std::string_view host_lc) {
  std::string_view host = has_port(pattern) ? host_lc : http::host_without_port(host_lc);
  if (pattern.front() == '*') {
    std::string_view suffix = pattern.substr(1);  // ".example.com[:port]"
    return host.size() > suffix.size() && host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  // "example.*[:port]"
  size_t star = pattern.find('*');
  std::string_view prefix = pattern.substr(0, star);
  std::string_view tail = pattern.substr(star + 1);  // ":port" or empty
  if (host.size() <= prefix.size() + tail.size() || host.compare(0, prefix.size(), prefix) != 0) return false;
  if (tail.empty()) return true;
  return host.compare(host.size() - tail.size(), tail.size(), tail) == 0 &&
         host.substr(prefix.size(), host.size() - prefix.size() - tail.size()).find(':') == std::string_view::npos;
}

// The literal text every match of an anchored pattern must start with, so
// a regex route is only run on paths that begin with it. Stops at the first
// metacharacter; a quantified last literal is dropped ("ab?" -> "a").
std::string literal_prefix(std::string_view re) {
  std::string out;
  if (re.find('|') != std::string_view::npos) return out;  // alternatives may start differently
  size_t i = (!re.empty() && re[0] == '^') ? 1 : 0;
  for (; i < re.size(); ++i) {
    char c = re[i];
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      if ((c == '?' || c == '*' || c == '{') && !out.empty()) out.pop_back();
      break;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

struct CompiledHeader {
  std::string name;
  std::vector<std::string> exact;  // lower-cased
  std::vector<std::shared_ptr<const Regex>> regexes;
};

// One route path: the unit of ranking and matching.
struct Entry {
  int route = 0;
  uint32_t order = 0;  // file order of (route, path): the final tie-break
  uint8_t weight = 0;
  bool plain_hosts = false;
  uint8_t header_count = 0;
  bool regex = false;
  int64_t regex_priority = 0;
  uint32_t prefix_len = 0;
  std::string prefix;  // empty for regex entries and routes without paths
  std::shared_ptr<const Regex> re;
  std::string regex_literal;  // literal start of the regex, for indexing
  const config::Route* def = nullptr;
  std::vector<CompiledHeader> headers;
};

// Entries one host key can reach, each list sorted best first.
struct Bucket {
  std::unordered_map<std::string_view, std::vector<uint32_t>> by_prefix;
  std::vector<uint32_t> lengths;  // distinct prefix lengths, longest first
  std::vector<uint32_t> no_path;
  std::vector<uint32_t> regex;  // regexes without a literal start
  std::unordered_map<std::string_view, std::vector<uint32_t>> regex_by_literal;
  std::vector<uint32_t> regex_lengths;  // distinct literal lengths, longest first
};

struct Router::Index {
  std::vector<Entry> entries;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
  };
  std::unordered_map<std::string, Bucket, Hash, std::equal_to<>> by_host;  // exact hosts, lower-cased
  uint64_t host_lengths = 0;  // bit (length % 64) set for each key of by_host: skips hopeless lookups
  Bucket wildcard;                                   // entries with a wildcard host
  Bucket any_host;                                   // entries with no hosts

  // True when a outranks b.
  bool beats(uint32_t a, uint32_t b) const {
    const Entry& x = entries[a];
    const Entry& y = entries[b];
    if (x.weight != y.weight) return x.weight > y.weight;
    if (x.plain_hosts != y.plain_hosts) return x.plain_hosts;
    if (x.header_count != y.header_count) return x.header_count > y.header_count;
    if (x.regex != y.regex) return x.regex;
    if (x.regex_priority != y.regex_priority) return x.regex_priority > y.regex_priority;
    if (x.prefix_len != y.prefix_len) return x.prefix_len > y.prefix_len;
    return x.order < y.order;
  }

  void add(Bucket& b, uint32_t id) {
    const Entry& e = entries[id];
    if (e.regex && !e.regex_literal.empty()) {
      b.regex_by_literal[e.regex_literal].push_back(id);
    } else if (e.regex) {
      b.regex.push_back(id);
    } else if (e.prefix.empty()) {
      b.no_path.push_back(id);
    } else {
      b.by_prefix[e.prefix].push_back(id);
    }
  }

  void finish(Bucket& b) {
    auto by_rank = [this](uint32_t a, uint32_t c) { return beats(a, c); };
    std::sort(b.regex.begin(), b.regex.end(), by_rank);
    std::sort(b.no_path.begin(), b.no_path.end(), by_rank);
    std::set<uint32_t, std::greater<>> lengths;
    for (auto& [prefix, ids] : b.by_prefix) {
      std::sort(ids.begin(), ids.end(), by_rank);
      lengths.insert(static_cast<uint32_t>(prefix.size()));
    }
    b.lengths.assign(lengths.begin(), lengths.end());
    std::set<uint32_t, std::greater<>> regex_lengths;
    for (auto& [literal, ids] : b.regex_by_literal) {
      std::sort(ids.begin(), ids.end(), by_rank);
      regex_lengths.insert(static_cast<uint32_t>(literal.size()));
    }
    b.regex_lengths.assign(regex_lengths.begin(), regex_lengths.end());
  }

  bool headers_match(const Entry& e, const RequestKeys& req) const {
    for (const auto& h : e.headers) {
      bool any = false;
      for (size_t i = 0; i < req.num_headers && !any; ++i) {
        if (!http::iequals(req.headers[i].name, h.name)) continue;
        std::string_view value = req.headers[i].value;
        for (const auto& x : h.exact) {
          if (http::iequals(value, x)) any = true;
        }
        for (const auto& re : h.regexes) {
          if (!any && re->match(value)) any = true;
        }
      }
      if (!any) return false;
    }
    return true;
  }

  // Everything but the path (already known to match, or tested last).
  bool others_match(const Entry& e, const RequestKeys& req, std::string_view host_lc, bool check_hosts) const {
    const config::Route& r = *e.def;
    if (!r.methods.empty() &&
        std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end()) {
      return false;
    }
    if (check_hosts && !r.hosts.empty()) {
      bool ok = false;
      for (const auto& h : r.hosts) {
        ok = is_wildcard(h) ? wildcard_matches(h, host_lc) : h == (has_port(h) ? host_lc : http::host_without_port(host_lc));
        if (ok) break;
      }
      if (!ok) return false;
    }
    // Kong skips the SNI condition for requests that are not https (Kong #6517).
    if (!r.snis.empty() && !req.sni.empty()) {
      if (std::find(r.snis.begin(), r.snis.end(), req.sni) == r.snis.end()) return false;
    }
    return e.headers.empty() || headers_match(e, req);
  }

  // Offers every entry of bucket b that matches; keeps the best in *best.
  void search(const Bucket& b, const RequestKeys& req, std::string_view host_lc, bool check_hosts,
              int64_t* best, Match* m) const {
    auto outranked = [&](uint32_t id) { return *best >= 0 && !beats(id, static_cast<uint32_t>(*best)); };
    for (uint32_t len : b.lengths) {
      if (len > req.path.size()) continue;
      auto it = b.by_prefix.find(req.path.substr(0, len));
      if (it == b.by_prefix.end()) continue;
      for (uint32_t id : it->second) {
        if (outranked(id)) break;  // the list is sorted: nothing after can win
        if (!others_match(entries[id], req, host_lc, check_hosts)) continue;
        *best = id;
        m->prefix_len = len;
        m->regex = false;
        m->by_path = true;
        break;
      }
    }
    for (uint32_t id : b.no_path) {
      if (outranked(id)) break;
      if (!others_match(entries[id], req, host_lc, check_hosts)) continue;
      *best = id;
      m->prefix_len = 0;
      m->regex = false;
      m->by_path = false;
      break;
    }
    try_regexes(b.regex, req, host_lc, check_hosts, best, m);
    for (uint32_t len : b.regex_lengths) {
      if (len > req.path.size()) continue;
      auto it = b.regex_by_literal.find(req.path.substr(0, len));
      if (it != b.regex_by_literal.end()) try_regexes(it->second, req, host_lc, check_hosts, best, m);
    }
  }

  // Runs regex entries (sorted best first) while they could still win.
  void try_regexes(const std::vector<uint32_t>& ids, const RequestKeys& req, std::string_view host_lc,
                   bool check_hosts, int64_t* best, Match* m) const {
    for (uint32_t id : ids) {
      if (*best >= 0 && !beats(id, static_cast<uint32_t>(*best))) break;
      const Entry& e = entries[id];
      if (!others_match(e, req, host_lc, check_hosts)) continue;
      Captures caps;
      if (!e.re->match(req.path, &caps)) continue;
      *best = id;
      m->prefix_len = caps.end[0];
      m->regex = true;
      m->by_path = true;
      m->captures = caps;
      m->re = e.re.get();
      break;
    }
  }
};

Router::Router() : index_(std::make_unique<Index>()) {}
Router::~Router() = default;

size_t Router::size() const { return index_->entries.size(); }

void Router::build(const std::vector<config::Route>& routes, const std::vector<bool>& active) {
  auto idx = std::make_unique<Index>();
  uint32_t order = 0;
  for (size_t i = 0; i < routes.size(); ++i) {
    if (i < active.size() && !active[i]) continue;
    const config::Route& r = routes[i];
    Entry base;
    base.route = static_cast<int>(i);
    base.def = &r;
    base.weight = static_cast<uint8_t>(!r.methods.empty() + !r.hosts.empty() + !r.headers.empty() +
                                       !r.paths.empty() + !r.snis.empty());
    base.plain_hosts = !r.hosts.empty() && std::none_of(r.hosts.begin(), r.hosts.end(), is_wildcard);
    base.header_count = static_cast<uint8_t>(std::min<size_t>(r.headers.size(), 255));
    for (const auto& h : r.headers) {
      CompiledHeader ch;
      ch.name = h.name;
      for (const auto& v : h.values) {
        if (v.rfind("~*", 0) == 0) {
          std::string err;
          if (auto re = Regex::compile(std::string_view(v).substr(2), false, true, &err)) ch.regexes.push_back(re);
        } else {
          std::string lc = v;
          for (auto& c : lc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          ch.exact.push_back(lc);
        }
      }
      base.headers.push_back(std::move(ch));
    }
    std::vector<Entry> subs;
    if (r.paths.empty()) subs.push_back(base);
    for (const auto& p : r.paths) {
      Entry e = base;
      if (p.size() > 1 && p[0] == '~') {
        std::string err;
        e.re = Regex::compile(std::string_view(p).substr(1), true, false, &err);
        if (!e.re) continue;  // the loader already refused it
        e.regex = true;
        e.regex_priority = r.regex_priority;
        e.regex_literal = literal_prefix(std::string_view(p).substr(1));
      } else {
        e.prefix = p;
        e.prefix_len = static_cast<uint32_t>(p.size());
      }
      subs.push_back(std::move(e));
    }
    for (auto& e : subs) {
      e.order = order++;
      idx->entries.push_back(std::move(e));
    }
  }
  // Buckets hold ids; string_view keys point into entries, which no longer move.
  for (uint32_t id = 0; id < idx->entries.size(); ++id) {
    const config::Route& r = *idx->entries[id].def;
    if (r.hosts.empty()) {
      idx->add(idx->any_host, id);
      continue;
    }
    bool wildcard_added = false;
    std::set<std::string_view> seen;  // a route listing a host twice appears once
    for (const auto& h : r.hosts) {
      if (is_wildcard(h)) {
        if (!wildcard_added) idx->add(idx->wildcard, id);
        wildcard_added = true;
      } else if (seen.insert(h).second) {
        idx->add(idx->by_host[h], id);
      }
    }
  }
  for (auto& [h, b] : idx->by_host) {
    idx->finish(b);
    idx->host_lengths |= uint64_t{1} << (h.size() % 64);
  }
  idx->finish(idx->wildcard);
  idx->finish(idx->any_host);
  index_ = std::move(idx);
}

Match Router::match(const RequestKeys& req) const {
  const Index& idx = *index_;
  // Lower-case the host once, without allocating.
  char buf[256];
  thread_local std::string long_host;  // rare: hosts longer than the stack buffer
  char* dst = buf;
  if (req.host.size() > sizeof buf) {
    long_host.resize(req.host.size());
    dst = long_host.data();
  }
  for (size_t i = 0; i < req.host.size(); ++i) {
    char c = req.host[i];
    dst[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
  }
  std::string_view host_lc(dst, req.host.size());
  Match m;
  int64_t best = -1;
  if (!idx.by_host.empty() && !host_lc.empty()) {
    // Exact hosts: with the port as sent, then without it. A host whose
    // length no route host has is not hashed at all.
    auto lookup = [&](std::string_view key) {
      if ((idx.host_lengths & (uint64_t{1} << (key.size() % 64))) == 0) return;
      auto it = idx.by_host.find(key);
      if (it != idx.by_host.end()) idx.search(it->second, req, host_lc, false, &best, &m);
    };
    if (has_port(host_lc)) lookup(host_lc);
    lookup(http::host_without_port(host_lc));
  }
  if (!host_lc.empty()) idx.search(idx.wildcard, req, host_lc, true, &best, &m);
  idx.search(idx.any_host, req, host_lc, false, &best, &m);
  if (best < 0) return Match{};
  m.route = idx.entries[static_cast<size_t>(best)].route;
  return m;
}

void upstream_path_v0(std::string_view base, bool strip_path, std::string_view req, std::string_view postfix,
                      std::string& out) {
  if (base.empty()) base = "/";
  out.clear();
  if (base.back() == '/') {
    if (!strip_path) {
      out.append(base);
      out.append(req.substr(1));
    } else if (postfix.empty()) {
      if (base == "/" || req.back() == '/') {
        out.append(base);
      } else {
        out.append(base.substr(0, base.size() - 1));
      }
    } else if (postfix.front() == '/') {
      out.append(base.substr(0, base.size() - 1));  // avoid "//"
      out.append(postfix);
    } else {
      out.append(base);
      out.append(postfix);
    }
    return;
  }
  out.append(base);
  if (!strip_path) {
    if (req != "/") out.append(req);
  } else if (postfix.empty()) {
    if (req.size() > 1 && req.back() == '/') out.push_back('/');
  } else {
    if (postfix.front() != '/') out.push_back('/');
    out.append(postfix);
  }
}

std::string_view sanitize_postfix(std::string_view p) {
  if (p == "." || p == "..") return {};
  if (p.substr(0, 2) == "./") return p.substr(2);
  if (p.substr(0, 3) == "../") return p.substr(3);
  return p;
}

}  // namespace wg::router

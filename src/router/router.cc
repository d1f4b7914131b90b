#include "router/router.h"

#include <algorithm>

#include "http/message.h"

namespace wg::router {
namespace {

std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool host_matches(const std::vector<std::string>& hosts, std::string_view host) {
  std::string_view bare = strip_port(host);
  for (const auto& h : hosts) {
    // A route host with a port must match the port as well.
    bool with_port = h.find(':') != std::string::npos && h.front() != '[';
    if (http::iequals(with_port ? host : bare, h)) return true;
  }
  return false;
}

bool method_matches(const std::vector<std::string>& methods, std::string_view m) {
  for (const auto& x : methods) {
    if (x == m) return true;
  }
  return false;
}

}  // namespace

void Router::build(const std::vector<config::Route>& routes, const std::vector<bool>& active) {
  entries_.clear();
  for (size_t i = 0; i < routes.size(); ++i) {
    if (i < active.size() && !active[i]) continue;
    const auto& r = routes[i];
    uint8_t kinds = static_cast<uint8_t>(!r.methods.empty() + !r.hosts.empty() + !r.paths.empty());
    if (r.paths.empty()) {
      entries_.push_back({static_cast<int>(i), kinds, std::string(), &r.hosts, &r.methods});
    }
    for (const auto& p : r.paths) {
      entries_.push_back({static_cast<int>(i), kinds, p, &r.hosts, &r.methods});
    }
  }
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.kinds != b.kinds) return a.kinds > b.kinds;
    if (a.path.size() != b.path.size()) return a.path.size() > b.path.size();
    return a.route < b.route;
  });
}

Match Router::match(const RequestKeys& req) const {
  for (const auto& e : entries_) {
    if (!e.path.empty()) {
      if (req.path.size() < e.path.size() || req.path.compare(0, e.path.size(), e.path) != 0) continue;
    }
    if (!e.hosts->empty() && !host_matches(*e.hosts, req.host)) continue;
    if (!e.methods->empty() && !method_matches(*e.methods, req.method)) continue;
    return Match{e.route, e.path.size()};
  }
  return Match{};
}

void upstream_path_v0(std::string_view base, bool strip_path, std::string_view request_path,
                      std::string_view postfix, std::string& out) {
  if (base.empty()) base = "/";
  out.clear();
  bool base_slash = base.back() == '/';
  if (!strip_path) {
    out.append(base);
    out.append(base_slash ? request_path.substr(1) : request_path);
    return;
  }
  if (postfix.empty()) {
    out.append(base);
    // Keep a trailing slash the client sent, e.g. /route/ -> /base/.
    if (!base_slash && !request_path.empty() && request_path.back() == '/') out.push_back('/');
    return;
  }
  out.append(base);
  bool post_slash = postfix.front() == '/';
  if (base_slash && post_slash) {
    out.append(postfix.substr(1));
  } else if (!base_slash && !post_slash) {
    out.push_back('/');
    out.append(postfix);
  } else {
    out.append(postfix);
  }
}

}  // namespace wg::router

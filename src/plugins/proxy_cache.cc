// proxy-cache (PRIORITY 100), strategy "memory": answers cacheable requests
// from a node-wide store (shared::ResponseCache) without contacting the
// upstream, as Kong's plugin does. Access computes Kong's cache key and
// answers a fresh hit itself; a miss goes upstream, header_filter decides
// whether the response may be kept and on_body copies the body as it
// passes, storing the whole response at its end.
#include "plugins/proxy_cache.h"

#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>

#include "plugins/bundled.h"
#include "shared/response_cache.h"

namespace wg::plugins {

namespace proxy_cache {

void append_prefix(std::string& out, std::string_view consumer_id, std::string_view route_id) {
  if (route_id.empty()) return void(out.append("default"));
  if (!consumer_id.empty()) out.append(consumer_id).push_back(':');
  out.append(route_id);
}

void append_request_uri(std::string& out, std::string_view method, std::string_view target,
                        std::string_view protocol, bool ignore_case) {
  const size_t start = out.size();
  out.append(method).push_back(' ');
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    out.append(target.substr(0, q));
  } else {
    out.append(target).push_back(' ');
    out.append(protocol);
  }
  if (ignore_case) {
    std::transform(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(), out.begin() + static_cast<std::ptrdiff_t>(start),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
}

namespace {

// One "name=v1,v2" piece: values sorted (Lua's table.sort), a lone flag
// as its bare name.
void append_field(std::string& out, bool& first, std::string_view name, std::vector<std::string_view>& values,
                  bool lone_flag) {
  if (!first) out.push_back(':');
  first = false;
  out.append(name);
  if (lone_flag) return;
  std::sort(values.begin(), values.end());
  out.push_back('=');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(values[i]);
  }
}

void append_arg(std::string& out, bool& first, const Args& args, std::string_view name) {
  std::vector<std::string_view> values;
  bool flag = false;
  for (const Arg& a : args) {
    if (a.name != name) continue;
    values.push_back(a.flag ? std::string_view("true") : std::string_view(a.value));
    flag = a.flag;
  }
  if (values.empty()) return;
  append_field(out, first, name, values, values.size() == 1 && flag);
}

}  // namespace

void append_params(std::string& out, const Args& args, const std::vector<std::string>& vary) {
  bool first = true;
  if (!vary.empty()) {
    for (const auto& name : vary) append_arg(out, first, args, name);
    return;
  }
  std::vector<std::string_view> names;
  for (const Arg& a : args) names.push_back(a.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (std::string_view name : names) append_arg(out, first, args, name);
}

void append_headers(std::string& out, const http::HeaderMap& headers, const std::vector<std::string>& vary) {
  bool first = true;
  for (const auto& name : vary) {
    std::vector<std::string_view> values;
    for (const auto& e : headers) {
      if (e.name.size() == name.size() && http::iequals(e.name, name)) values.push_back(e.value);
    }
    if (!values.empty()) append_field(out, first, name, values, false);
  }
}

std::string digest(std::string_view parts) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(parts.data()), parts.size(), d);
  static const char hex[] = "0123456789abcdef";
  std::string out(2 * sizeof d, '\0');
  for (size_t i = 0; i < sizeof d; ++i) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  return out;
}

}  // namespace proxy_cache

namespace {

using shared::CachedResponse;
using shared::ResponseCache;

// Kong's X-Cache-Status values (Slot::word's low byte; 0: not involved).
enum Status : uint64_t { kNone = 0, kMiss, kHit, kRefresh, kBypass };
constexpr uint64_t kDebug = 1u << 8;  // the client sent Kong-Debug: every header shown
const char* const kStatusText[] = {"", "Miss", "Hit", "Refresh", "Bypass"};

// Kong's shared dicts (its nginx template): the names dictionary_name may use.
const char* const kDictionaries[] = {"kong",           "kong_locks",         "kong_healthchecks",
                                     "kong_cluster_events", "kong_rate_limiting_counters", "kong_core_db_cache",
                                     "kong_core_db_cache_miss", "kong_db_cache", "kong_db_cache_miss",
                                     "kong_secrets"};

// Headers a cached response never replays (Kong's list: hop-by-hop ones,
// and content-length, which the answer gets anew).
bool hop_by_hop(std::string_view n) {
  for (const char* h : {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "content-length"}) {
    if (http::iequals(n, h)) return true;
  }
  return false;
}

bool own_header(std::string_view n) {
  return http::iequals(n, "age") || http::iequals(n, "x-cache-status") || http::iequals(n, "x-cache-key");
}

// Kong's parse_directive_header, for the directives the plugin reads.
struct Directives {
  bool no_store = false, no_cache = false, priv = false, only_if_cached = false;
  std::optional<double> max_age, s_maxage, max_stale, min_fresh;
};

void parse_directives(std::string_view h, Directives& d) {
  while (!h.empty()) {
    size_t comma = h.find(',');
    std::string_view item = h.substr(0, comma);
    h = comma == std::string_view::npos ? std::string_view() : h.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    size_t eq = item.find('=');
    std::string name = http::to_lower(item.substr(0, eq));
    std::optional<double> number;
    if (eq != std::string_view::npos) {
      std::string v(item.substr(eq + 1));
      char* end = nullptr;
      double n = std::strtod(v.c_str(), &end);
      if (!v.empty() && end == v.c_str() + v.size()) number = n;
    }
    if (name == "no-store") d.no_store = true;
    else if (name == "no-cache") d.no_cache = true;
    else if (name == "private") d.priv = true;
    else if (name == "only-if-cached") d.only_if_cached = true;
    else if (name == "max-age") d.max_age = number;
    else if (name == "s-maxage") d.s_maxage = number;
    else if (name == "max-stale") d.max_stale = number;
    else if (name == "min-fresh") d.min_fresh = number;
  }
}

Directives directives(const http::HeaderMap& h) {
  Directives d;
  for (const auto& e : h) {
    if (http::iequals(e.name, "cache-control")) parse_directives(e.value, d);
  }
  return d;
}

// An HTTP date (RFC 1123) as seconds since the epoch.
std::optional<int64_t> http_time(std::string_view s) {
  std::string v(s);
  std::tm tm{};
  const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

// Kong's calculate_resource_ttl: s-maxage, else max-age, else Expires.
int64_t resource_ttl(const Directives& cc, const http::HeaderMap& h, int64_t now) {
  std::optional<double> age = cc.s_maxage ? cc.s_maxage : cc.max_age;
  if (!age) {
    const http::HeaderMap::Entry* last = nullptr;
    for (const auto& e : h) {
      if (http::iequals(e.name, "expires")) last = &e;
    }
    if (last != nullptr) {
      if (auto t = http_time(last->value)) age = static_cast<double>(*t - now);
    }
  }
  return age ? std::max<int64_t>(static_cast<int64_t>(*age), 0) : 0;
}

// A media type as Kong's parse_mime_type reads it: type and subtype lower
// case, parameters with lower-case names.
struct MediaType {
  std::string type, subtype;
  std::vector<std::pair<std::string, std::string>> params;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<MediaType> parse_media_type(std::string_view s) {
  MediaType m;
  size_t semi = s.find(';');
  std::string_view t = trim(s.substr(0, semi));
  if (t == "*") {
    m.type = m.subtype = "*";
  } else {
    size_t slash = t.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size()) return std::nullopt;
    m.type = http::to_lower(t.substr(0, slash));
    m.subtype = http::to_lower(t.substr(slash + 1));
  }
  while (semi != std::string_view::npos) {
    s.remove_prefix(semi + 1);
    semi = s.find(';');
    std::string_view p = trim(s.substr(0, semi));
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view v = p.substr(eq + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    m.params.emplace_back(http::to_lower(p.substr(0, eq)), std::string(v));
  }
  return m;
}

// Kong's match: type and subtype (or '*'), and exactly the same parameters.
bool media_matches(const MediaType& expected, const MediaType& got) {
  if (expected.type != "*" && expected.type != got.type) return false;
  if (expected.subtype != "*" && expected.subtype != got.subtype) return false;
  if (expected.params.size() != got.params.size()) return false;
  for (const auto& p : expected.params) {
    if (std::find(got.params.begin(), got.params.end(), p) == got.params.end()) return false;
  }
  return true;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string dictionary_name(const config::Value& c) {
  auto m = c.find("memory");
  std::string name = m != c.end() && m->is_object() ? str_or_empty(*m, "dictionary_name") : "";
  return name.empty() ? "kong_db_cache" : name;
}

// An optional array of strings (empty when unset).
std::vector<std::string> strings(const config::Value& c, const char* field) {
  std::vector<std::string> out;
  auto it = c.find(field);
  if (it == c.end() || !it->is_array()) return out;
  for (const auto& v : *it) out.push_back(v.get<std::string>());
  return out;
}

// A miss on its way to the store: made in access, filled by header_filter
// and the body pieces.
struct Capture {
  std::string key;
  std::shared_ptr<CachedResponse> response;  // null: the response is not kept
  int64_t storage_ttl_s = 0;
};

class ProxyCache : public Plugin {
 public:
  explicit ProxyCache(const config::Value& c)
      : Plugin("proxy-cache", 100,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter),
               pipeline::BodyMode::None, pipeline::BodyMode::Stream),
        store_(ResponseCache::named(dictionary_name(c))),
        cache_ttl_(static_cast<int64_t>(c.value("cache_ttl", 300.0))),
        cache_control_(c.value("cache_control", false)),
        ignore_uri_case_(c.value("ignore_uri_case", false)) {
    for (const auto& v : c["response_code"]) codes_.push_back(static_cast<int>(v.get<double>()));
    for (const auto& v : c["request_method"]) methods_.push_back(v.get<std::string>());
    for (const auto& v : c["content_type"]) {
      if (auto m = parse_media_type(v.get<std::string>())) types_.push_back(std::move(*m));
    }
    auto st = c.find("storage_ttl");
    if (st != c.end() && st->is_number()) storage_ttl_ = static_cast<int64_t>(st->get<double>());
    vary_query_ = strings(c, "vary_query_params");
    vary_headers_ = strings(c, "vary_headers");
    auto rh = c.find("response_headers");
    if (rh != c.end() && rh->is_object()) {
      show_age_ = rh->value("age", true);
      show_status_ = rh->value("X-Cache-Status", true);
      show_key_ = rh->value("X-Cache-Key", true);
    }
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    const uint64_t debug = x.request_headers.find("kong-debug") != nullptr ? kDebug : 0;
    // Not cacheable: the store is not looked at (no key, no lock).
    Directives cc;
    if (cache_control_) cc = directives(x.request_headers);
    if (!method_cacheable(x.method) || (cache_control_ && (cc.no_store || cc.no_cache))) {
      s.word = kBypass | debug;
      return Verdict::Continue;
    }
    std::string key = cache_key(x);
    const int64_t now = now_ms();
    std::shared_ptr<const CachedResponse> hit = store_.fetch(key, now);
    if (hit == nullptr) {
      // RFC 7234 5.2.1.7: the client wants a stored answer or none.
      if (cache_control_ && cc.only_if_cached) return exit_with(x, 504, {}, {});
      return miss(s, std::move(key), kMiss | debug);
    }
    const int64_t age = now / 1000 - hit->timestamp_s;
    if (!fresh_enough(cc, *hit, age)) return miss(s, std::move(key), kRefresh | debug);
    s.word = kHit | debug;  // header_filter leaves the answer alone
    return answer(x, *hit, key, age, debug != 0);
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    const uint64_t status = s.word & 0xff;
    if (status == kNone || status == kHit) return Verdict::Continue;
    const bool debug = (s.word & kDebug) != 0;
    auto* capture = static_cast<Capture*>(s.state.get());
    // Kong sets the key in access: a response not kept still shows it.
    if (capture != nullptr && (show_key_ || debug)) x.response_headers.replace("X-Cache-Key", capture->key);
    if (capture != nullptr && !keep_response(x, *capture)) {
      s.word = kBypass | (s.word & kDebug);
      capture = nullptr;
      s.state.reset();
    }
    if (show_status_ || debug) x.response_headers.replace("X-Cache-Status", kStatusText[s.word & 0xff]);
    // Another plugin answered after this one's access (Kong caches that
    // answer too), or no body follows (HEAD, 204, 304): the head and what
    // the answer has are the whole response.
    if (capture != nullptr && x.local_reply) capture->response->body = x.local_body;
    if (capture != nullptr && (x.local_reply || !x.response_has_body)) {
      commit(*capture);
      s.state.reset();
    }
    return Verdict::Continue;
  }

  // Copies each piece of a kept response as it passes, and stores the whole
  // at its end. A body larger than the store takes is not kept.
  Verdict on_body(pipeline::Direction d, Exchange&, Slot& s, std::string& body, bool end_of_stream) const override {
    auto* capture = static_cast<Capture*>(s.state.get());
    if (d != pipeline::Direction::Response || capture == nullptr || capture->response == nullptr) {
      return Verdict::Continue;
    }
    std::string& copy = capture->response->body;
    if (copy.size() + body.size() > store_.max_entry_bytes()) {
      s.state.reset();  // abandoned: the rest streams past
      return Verdict::Continue;
    }
    copy.append(body);
    if (end_of_stream) {
      commit(*capture);
      s.state.reset();
    }
    return Verdict::Continue;
  }

  // A body with trailers ends here (its last piece came without the end).
  Verdict on_trailers(pipeline::Direction d, Exchange&, Slot& s) const override {
    auto* capture = static_cast<Capture*>(s.state.get());
    if (d == pipeline::Direction::Response && capture != nullptr) {
      commit(*capture);
      s.state.reset();
    }
    return Verdict::Continue;
  }

 private:
  bool method_cacheable(std::string_view method) const {
    return std::find(methods_.begin(), methods_.end(), method) != methods_.end();
  }

  std::string cache_key(const Exchange& x) const {
    thread_local std::string parts;
    parts.clear();
    proxy_cache::append_prefix(parts, x.consumer_id, x.route != nullptr ? std::string_view(x.route->id) : "");
    parts.append("|").append(x.method).append("|");
    proxy_cache::append_request_uri(parts, x.method, x.log.uri, x.protocol.empty() ? "HTTP/1.1" : x.protocol,
                                    ignore_uri_case_);
    parts.push_back('|');
    proxy_cache::append_params(parts, decode_args(upstream_query(x)), vary_query_);
    parts.push_back('|');
    proxy_cache::append_headers(parts, x.request_headers, vary_headers_);
    return proxy_cache::digest(parts);
  }

  // Kong serves a stored response while it is younger than cache_ttl, or,
  // with cache_control, while the client's max-age / max-stale / min-fresh
  // accept it (the store's TTL bounds it otherwise).
  bool fresh_enough(const Directives& cc, const CachedResponse& r, int64_t age) const {
    if (!cache_control_) return age <= cache_ttl_;
    if (cc.max_age && static_cast<double>(age) > *cc.max_age) return false;
    if (cc.max_stale && static_cast<double>(age - r.ttl_s) > *cc.max_stale) return false;
    if (cc.min_fresh && static_cast<double>(r.ttl_s - age) < *cc.min_fresh) return false;
    return true;
  }

  Verdict miss(Slot& s, std::string key, uint64_t word) const {
    auto capture = std::make_shared<Capture>();
    capture->key = std::move(key);
    s.state = std::move(capture);
    s.word = word;
    return Verdict::Continue;
  }

  // The stored response as a local answer, with Kong's headers.
  Verdict answer(Exchange& x, const CachedResponse& r, const std::string& key, int64_t age, bool debug) const {
    http::HeaderList headers;
    headers.reserve(r.headers.size() + 3);
    for (const auto& h : r.headers) {
      if (!own_header(h.first)) headers.push_back(h);
    }
    if (show_age_ || debug) headers.emplace_back("Age", std::to_string(std::max<int64_t>(age, 0)));
    if (show_status_ || debug) headers.emplace_back("X-Cache-Status", "Hit");
    if (show_key_ || debug) headers.emplace_back("X-Cache-Key", key);
    return exit_with(x, r.status, r.body, std::move(headers));
  }

  // Kong's cacheable_response; when it is, the head is taken for the store.
  bool keep_response(const Exchange& x, Capture& c) const {
    int status = 0;
    std::string_view st = x.response_headers.get_exact(":status");
    std::from_chars(st.data(), st.data() + st.size(), status);
    if (std::find(codes_.begin(), codes_.end(), status) == codes_.end()) return false;
    const http::HeaderMap::Entry* type = x.response_headers.find("content-type");
    if (type == nullptr || type->value.empty()) return false;
    std::optional<MediaType> got = parse_media_type(type->value);
    if (!got) return false;
    bool match = false;
    for (const auto& t : types_) match = match || media_matches(t, *got);
    if (!match) return false;
    const int64_t now = now_ms() / 1000;
    int64_t ttl = cache_ttl_;
    if (cache_control_) {
      Directives cc = directives(x.response_headers);
      if (cc.priv || cc.no_store || cc.no_cache) return false;
      ttl = resource_ttl(cc, x.response_headers, now);
      if (ttl <= 0) return false;
    }
    auto r = std::make_shared<CachedResponse>();
    r->status = status;
    r->timestamp_s = now;
    r->ttl_s = ttl;
    for (const auto& e : x.response_headers) {
      std::string_view n = e.name;
      if (n.empty() || n[0] == ':' || hop_by_hop(n) || own_header(n)) continue;
      if (http::to_lower(n).find("ratelimit-remaining") != std::string::npos) continue;
      r->headers.emplace_back(std::string(n), std::string(e.value));
    }
    c.response = std::move(r);
    c.storage_ttl_s = storage_ttl_ ? *storage_ttl_ : ttl;
    return true;
  }

  void commit(Capture& c) const {
    if (c.response == nullptr) return;
    // A shared dict's TTL of 0 keeps the entry until it is evicted.
    constexpr int64_t kForever_ms = int64_t{1} << 50;
    store_.store(c.key, std::move(c.response), c.storage_ttl_s > 0 ? c.storage_ttl_s * 1000 : kForever_ms, now_ms());
  }

  ResponseCache& store_;
  std::vector<int> codes_;
  std::vector<std::string> methods_;
  std::vector<MediaType> types_;
  int64_t cache_ttl_;
  std::optional<int64_t> storage_ttl_;
  bool cache_control_, ignore_uri_case_;
  std::vector<std::string> vary_query_, vary_headers_;
  bool show_age_ = true, show_status_ = true, show_key_ = true;
};

std::optional<std::string> positive(const config::Value& v) {
  if (v.get<double>() > 0) return std::nullopt;
  return "value must be greater than 0";
}

// Kong's entity check: the memory strategy needs an existing shared dict.
void check_dictionary(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  if (str_or_empty(c, "strategy") != "memory") return;
  auto m = c.find("memory");
  if (m == c.end() || !m->is_object()) return;
  std::string name = str_or_empty(*m, "dictionary_name");
  for (const char* d : kDictionaries) {
    if (name == d) return;
  }
  out.push_back({"", "missing shared dict '" + name + "'"});
}

}  // namespace

PluginType proxy_cache_type() {
  schema::EntityCheck dictionary;
  dictionary.fields = {"strategy", "memory"};
  dictionary.custom = check_dictionary;
  Field config = config_record({
      Field("response_code", Type::Array).req().def(config::Value({200, 301, 404})).min_len(1)
          .of(Field("", Type::Integer).range(100, 900)),
      Field("request_method", Type::Array).req().def(config::Value({"GET", "HEAD"}))
          .of(Field("", Type::String).choices({"HEAD", "GET", "POST", "PATCH", "PUT"})),
      Field("content_type", Type::Array).req().def(config::Value({"text/plain", "application/json"}))
          .of(Field("", Type::String)),
      Field("cache_ttl", Type::Integer).def(300).check(positive),
      // Kong's only strategy; its message names the choice.
      Field("strategy", Type::String).req().choices({"memory"}),
      Field("cache_control", Type::Boolean).req().def(false),
      Field("ignore_uri_case", Type::Boolean).def(false),
      Field("storage_ttl", Type::Integer),
      Field("memory", Type::Record).with({Field("dictionary_name", Type::String).req().def("kong_db_cache")}),
      Field("vary_query_params", Type::Array).of(Field("", Type::String)),
      Field("vary_headers", Type::Array).of(Field("", Type::String)),
      Field("response_headers", Type::Record).with({Field("age", Type::Boolean).def(true),
                                                    Field("X-Cache-Status", Type::Boolean).def(true),
                                                    Field("X-Cache-Key", Type::Boolean).def(true)}),
  });
  config.record_checks = {dictionary};
  return {"proxy-cache", 100, config,
          [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<ProxyCache>(c);
          }};
}

}  // namespace wg::plugins

// cors (PRIORITY 2000): answers CORS preflight requests itself (unless
// preflight_continue) and adds the CORS headers to every other response.
#include <algorithm>

#include "plugins/bundled.h"
#include "router/regex.h"

namespace wg::plugins {
namespace {

const std::vector<std::string> kMethods = {"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> strings(const config::Value& c, const char* key) {
  std::vector<std::string> out;
  auto it = c.find(key);
  if (it != c.end() && it->is_array()) {
    for (const auto& v : *it) out.push_back(v.get<std::string>());
  }
  return out;
}

// Kong treats an origin entry with characters beyond these as a regex.
bool regex_like(const std::string& s) {
  return s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:/-") != std::string::npos;
}

struct Normalized {
  std::string domain;  // scheme://host[:port], the default port dropped
  std::string host;
};

// Kong's normalize_origin: scheme, host and port only; the default port of
// http and https dropped; no host (e.g. "null") leaves the text as it is.
Normalized normalize_origin(std::string_view text) {
  std::string t;
  for (char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') t.push_back(c);
  }
  t = t.substr(0, t.find('#'));
  size_t colon = t.find(':');
  std::string scheme;
  bool scheme_ok = colon != std::string::npos && colon > 0 && std::isalnum(static_cast<unsigned char>(t[0]));
  for (size_t i = 0; scheme_ok && i < colon; ++i) {
    char c = t[i];
    scheme_ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  }
  std::string rest = scheme_ok ? t.substr(colon + 1) : t;
  if (scheme_ok) scheme = t.substr(0, colon);
  if (rest.rfind("//", 0) != 0) return {t, t};
  std::string authority = rest.substr(2, rest.find_first_of("/?;", 2) - 2);
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  std::string host = authority, port;
  bool has_port = false;
  if (size_t c = authority.rfind(':'); c != std::string::npos && authority.find(']', c) == std::string::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
    has_port = true;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) return {t, t};
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) has_port = false;
  std::string domain = (scheme.empty() ? "" : scheme + "://") + host + (has_port ? ":" + port : "");
  return {domain, host};
}

// A regex entry matches the whole subject: "$" appended, a leading "^" dropped.
std::string anchored(std::string p) {
  if (!p.empty() && p[0] == '^') p.erase(0, 1);
  if (p.empty() || p.back() != '$') p += '$';
  return p;
}

struct Origin {
  std::string text;
  Normalized normalized;                          // plain entries
  std::shared_ptr<const router::Regex> pattern;  // regex entries
  bool by_host = false;  // a pattern without ":" matches the host alone
};

class Cors : public Plugin {
 public:
  explicit Cors(const config::Value& c)
      : Plugin("cors", 2000,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter)),
        headers_(joined(strings(c, "headers"))),
        exposed_(joined(strings(c, "exposed_headers"))),
        methods_(joined(c.contains("methods") && c["methods"].is_array() ? strings(c, "methods") : kMethods)),
        credentials_(c.value("credentials", false)),
        preflight_continue_(c.value("preflight_continue", false)),
        private_network_(c.value("private_network", false)),
        allow_origin_absent_(c.value("allow_origin_absent", true)) {
    if (c.contains("max_age") && c["max_age"].is_number()) {
      double age = c["max_age"].get<double>();
      max_age_ = age == static_cast<long long>(age) ? std::to_string(static_cast<long long>(age)) : std::to_string(age);
    }
    for (const auto& o : strings(c, "origins")) {
      Origin origin{o, normalize_origin(o), nullptr, false};
      if (o != "*" && regex_like(o)) {
        origin.pattern = router::Regex::compile(anchored(o), true, false, nullptr);
        origin.by_host = o.find(':') == std::string::npos;
      }
      origins_.push_back(std::move(origin));
    }
    allow_all_ = origins_.empty() || (origins_.size() == 1 && origins_[0].text == "*");
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    if (x.method != "OPTIONS" || request_header(x, "origin").empty() ||
        request_header(x, "access-control-request-method").empty()) {
      return Verdict::Continue;
    }
    s.word = 1;  // a preflight: the response gets no CORS headers added later
    if (preflight_continue_) return Verdict::Continue;
    http::HeaderList out;
    add_origin(x, out);
    std::string_view asked = request_header(x, "access-control-request-headers");
    if (!headers_.empty()) {
      out.emplace_back("Access-Control-Allow-Headers", headers_);
    } else if (!asked.empty()) {
      out.emplace_back("Access-Control-Allow-Headers", std::string(asked));
    }
    out.emplace_back("Access-Control-Allow-Methods", methods_);
    if (!max_age_.empty()) out.emplace_back("Access-Control-Max-Age", max_age_);
    if (private_network_ && request_header(x, "access-control-request-private-network") == "true") {
      out.emplace_back("Access-Control-Allow-Private-Network", "true");
    }
    // Later values win (credentials echo the origin), as Kong's set_header.
    http::HeaderList headers;
    for (auto& [name, value] : out) {
      auto same = std::find_if(headers.begin(), headers.end(), [&](const auto& h) { return h.first == name; });
      if (same != headers.end()) {
        same->second = value;
      } else {
        headers.emplace_back(name, value);
      }
    }
    std::erase_if(headers, [](const auto& h) { return h.second.empty(); });
    return exit_with(x, 200, "", std::move(headers));
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (s.word == 1) return Verdict::Continue;
    if (!allow_origin_absent_ && request_header(x, "origin").empty()) return Verdict::Continue;
    http::HeaderList out;
    add_origin(x, out);
    if (!exposed_.empty()) out.emplace_back("Access-Control-Expose-Headers", exposed_);
    bool vary_added = false;
    for (const auto& [name, value] : out) {
      if (name == "Vary") {
        // Kept beside the upstream's own Vary values, once.
        if (!vary_added) x.response_headers.add(name, value);
        vary_added = true;
      } else if (value.empty()) {
        x.response_headers.remove(name);  // no match: the upstream's goes too
      } else {
        x.response_headers.replace(name, value);
      }
    }
    return Verdict::Continue;
  }

 private:
  // Access-Control-Allow-Origin, -Credentials and Vary for this request,
  // as Kong's configure_origin and configure_credentials decide them.
  void add_origin(const Exchange& x, http::HeaderList& out) const {
    std::string_view origin = request_header(x, "origin");
    bool allow_all = allow_all_;
    if (allow_all) {
      out.emplace_back("Access-Control-Allow-Origin", "*");
    } else {
      out.emplace_back("Vary", "Origin");
      out.emplace_back("Access-Control-Allow-Origin", match(origin, &allow_all));
    }
    if (!credentials_) return;
    if (!allow_all) {
      out.emplace_back("Access-Control-Allow-Credentials", "true");
    } else if (!origin.empty()) {
      // "*" cannot carry credentials: the request's origin is echoed.
      out.emplace_back("Vary", "Origin");
      out.emplace_back("Access-Control-Allow-Origin", std::string(origin));
      out.emplace_back("Access-Control-Allow-Credentials", "true");
    }
  }

  // The allowed origin to announce ("" clears it).
  std::string match(std::string_view origin, bool* allow_all) const {
    // One plain entry is announced whatever the request says.
    if (origins_.size() == 1 && !origins_[0].pattern && origins_[0].text != "*") return origins_[0].text;
    if (origin.empty()) return "";
    Normalized req = normalize_origin(origin);
    for (const auto& o : origins_) {
      if (o.text == "*") {
        *allow_all = true;
        return "*";
      }
      bool hit = o.pattern ? o.pattern->match(o.by_host ? req.host : req.domain) : o.normalized.domain == req.domain;
      if (hit) return req.domain;
    }
    return "";
  }

  std::vector<Origin> origins_;
  bool allow_all_ = true;
  std::string headers_, exposed_, methods_, max_age_;
  bool credentials_, preflight_continue_, private_network_, allow_origin_absent_;
};

std::optional<std::string> check_origin(const config::Value& v) {
  const std::string& o = v.get_ref<const std::string&>();
  std::string err;
  if (o == "*" || router::Regex::compile(o, false, false, &err)) return std::nullopt;
  return "'" + o + "' is not a valid regex";
}

}  // namespace

PluginType cors_type() {
  std::vector<config::Value> methods(kMethods.begin(), kMethods.end());
  Field config = config_record({
      Field("origins", Type::Array).of(Field("", Type::String).check(check_origin)),
      Field("headers", Type::Array).of(Field("", Type::String)),
      Field("exposed_headers", Type::Array).of(Field("", Type::String)),
      Field("methods", Type::Array).of(Field("", Type::String).choices(methods)).def(config::Value(methods)),
      Field("max_age", Type::Number),
      Field("credentials", Type::Boolean).req().def(false),
      Field("private_network", Type::Boolean).req().def(false),
      Field("preflight_continue", Type::Boolean).req().def(false),
      Field("allow_origin_absent", Type::Boolean).req().def(true),
  });
  return {"cors", 2000, config, [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<Cors>(c);
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

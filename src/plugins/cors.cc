// cors (PRIORITY 2000): answers CORS preflight requests itself (unless
// preflight_continue) and adds the CORS headers to every other response.
#include "plugins/bundled.h"
#include "router/regex.h"

namespace wg::plugins {
namespace {

using pipeline::Exchange;
using pipeline::Slot;
using pipeline::Verdict;
using schema::Field;
using schema::Type;

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

// An origin entry with regex characters is a pattern over the whole origin.
bool regex_like(const std::string& s) { return s.find_first_of("^$*+?()[]{}|\\") != std::string::npos; }

struct Origin {
  std::string text;
  std::shared_ptr<const router::Regex> pattern;
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
        private_network_(c.value("private_network", false)) {
    if (c.contains("max_age") && c["max_age"].is_number()) {
      double age = c["max_age"].get<double>();
      max_age_ = age == static_cast<long long>(age) ? std::to_string(static_cast<long long>(age)) : std::to_string(age);
    }
    for (const auto& o : strings(c, "origins")) {
      Origin origin{o, nullptr};
      if (o != "*" && regex_like(o)) origin.pattern = router::Regex::compile(o + "$", true, false, nullptr);
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
    return exit_with(x, 200, "", std::move(out));
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (s.word == 1) return Verdict::Continue;
    http::HeaderList out;
    add_origin(x, out);
    if (!exposed_.empty()) out.emplace_back("Access-Control-Expose-Headers", exposed_);
    for (const auto& [name, value] : out) {
      if (name == "Vary") {
        x.response_headers.add(name, value);
      } else {
        x.response_headers.replace(name, value);
      }
    }
    return Verdict::Continue;
  }

 private:
  // Access-Control-Allow-Origin (and -Credentials, Vary) for this request.
  void add_origin(const Exchange& x, http::HeaderList& out) const {
    std::string_view origin = request_header(x, "origin");
    if (allow_all_) {
      if (credentials_ && !origin.empty()) {
        // "*" cannot carry credentials: the request's origin is echoed.
        out.emplace_back("Access-Control-Allow-Origin", std::string(origin));
        out.emplace_back("Access-Control-Allow-Credentials", "true");
        out.emplace_back("Vary", "Origin");
      } else {
        out.emplace_back("Access-Control-Allow-Origin", "*");
      }
      return;
    }
    out.emplace_back("Vary", "Origin");
    bool allowed = false;
    for (const auto& o : origins_) {
      allowed = o.text == "*" || o.text == origin || (o.pattern && o.pattern->match(origin));
      if (allowed) break;
    }
    if (allowed) out.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    if (credentials_) out.emplace_back("Access-Control-Allow-Credentials", "true");
  }

  std::vector<Origin> origins_;
  bool allow_all_ = true;
  std::string headers_, exposed_, methods_, max_age_;
  bool credentials_, preflight_continue_, private_network_;
};

std::optional<std::string> check_origin(const config::Value& v) {
  const std::string& o = v.get_ref<const std::string&>();
  if (o == "*" || !regex_like(o)) return std::nullopt;
  std::string err;
  if (router::Regex::compile(o + "$", true, false, &err)) return std::nullopt;
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
  });
  return {"cors", 2000, config, [](const config::Value& c, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<Cors>(c);
          }};
}

}  // namespace wg::plugins

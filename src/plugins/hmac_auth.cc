// hmac-auth (PRIORITY 1030): identifies the consumer by an HMAC signature
// (hmac-sha1/256/384/512 over the headers the client lists) in a
// Proxy-Authorization or Authorization header, made with the secret of the
// credential it names; a Date or X-Date within clock_skew is required, and
// with validate_request_body the Digest header must be the body's SHA-256.
// Or lets the request through as the `anonymous` consumer; 401 otherwise.
#include <algorithm>
#include <cmath>
#include <ctime>

#include "plugins/auth_codec.h"
#include "plugins/bundled.h"
#include "plugins/consumers.h"

namespace wg::plugins {
namespace {

const char kNoDate[] =
    "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication";
const char kNotValid[] = "HMAC signature cannot be verified";
const char kNotSame[] = "HMAC signature does not match";

// Slot::word: the body's digest is still to be checked (validate_request_body).
constexpr uint64_t kBodyPending = 1;

class HmacAuth : public Plugin {
 public:
  HmacAuth(const config::Value& c, std::shared_ptr<const Consumers> consumers, bool validate_body)
      : Plugin("hmac-auth", 1030, pipeline::phase_bit(pipeline::Phase::Access),
               validate_body ? pipeline::BodyMode::Buffer : pipeline::BodyMode::None),
        consumers_(std::move(consumers)),
        anonymous_(str_or_empty(c, "anonymous")),
        hide_(c.value("hide_credentials", false)),
        validate_body_(validate_body),
        clock_skew_(c.value("clock_skew", 300.0)) {
    for (const auto& h : c.value("enforce_headers", config::Value::array())) enforce_.push_back(h.get<std::string>());
    for (const auto& a : c.value("algorithms", config::Value::array())) algorithms_.push_back(a.get<std::string>());
    std::string realm = str_or_empty(c, "realm");
    challenge_ = c.contains("realm") && c["realm"].is_string() ? "hmac realm=\"" + realm + "\"" : "hmac";
  }

  void detach(Exchange&, Slot& s) const override {
    s.state.reset();
    s.word = 0;
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    s.word = 0;
    // With anonymous set, auth plugins are alternatives: one that already
    // identified a credential is enough.
    if (!anonymous_.empty() && !x.credential_id.empty()) return Verdict::Continue;
    const char* failure = identify(x, s);
    if (failure == nullptr) return Verdict::Continue;
    if (!anonymous_.empty()) {
      const config::Consumer* anon = consumers_->by_id_or_username(anonymous_);
      if (anon == nullptr) return exit_error(x, 500, "anonymous consumer " + anonymous_ + " is configured but doesn't exist");
      authenticate(x, *anon, nullptr);
      return Verdict::Continue;
    }
    return unauthorized(x, failure);
  }

  // The request body, whole: its digest is the last check Kong makes.
  Verdict on_body(pipeline::Direction d, Exchange& x, Slot& s, std::string& body, bool) const override {
    if (d != pipeline::Direction::Request || s.word != kBodyPending) return Verdict::Continue;
    s.word = 0;
    return digest_matches(x, body) ? Verdict::Continue : unauthorized(x, kNotSame);
  }

 private:
  // Kong's checks in Kong's order; the reason of the first that fails, or null.
  const char* identify(Exchange& x, Slot& s) const {
    std::string_view authorization = request_header(x, "Authorization");
    std::string_view proxy = request_header(x, "Proxy-Authorization");
    if (x.request_headers.find("Authorization") == nullptr && x.request_headers.find("Proxy-Authorization") == nullptr) {
      return "Unauthorized";
    }
    if (!date_within_skew(x, "X-Date") && !date_within_skew(x, "Date")) return kNoDate;
    auth::HmacParams params = auth::parse_hmac(proxy);
    if (params.found) {
      if (hide_) x.request_headers.remove("Proxy-Authorization");
    } else {
      params = auth::parse_hmac(authorization);
      if (hide_) x.request_headers.remove("Authorization");
    }
    if (!params_valid(params)) return kNotValid;
    const config::HmacauthCredential* cred = consumers_->hmacauth(params.username);
    if (cred == nullptr) return kNotValid;
    if (!signature_matches(x, params, cred->secret)) return kNotSame;
    if (validate_body_) {
      if (!x.request_has_body) {
        if (!digest_matches(x, "")) return kNotSame;
      } else {
        s.word = kBodyPending;  // checked when the body is in (on_body)
      }
    }
    authenticate(x, consumers_->consumer_of(*cred), &cred->id, &cred->username);
    return nullptr;
  }

  bool date_within_skew(const Exchange& x, std::string_view name) const {
    std::optional<int64_t> t = auth::parse_http_date(request_header(x, name));
    if (!t) return false;
    return std::fabs(static_cast<double>(static_cast<int64_t>(std::time(nullptr)) - *t)) <= clock_skew_;
  }

  // A username and a signature, every enforced header signed, an allowed algorithm.
  bool params_valid(const auth::HmacParams& p) const {
    if (!p.found || p.username.empty() || p.signature.empty()) return false;
    for (const auto& h : enforce_) {
      if (std::find(p.headers.begin(), p.headers.end(), h) == p.headers.end()) return false;
    }
    return std::find(algorithms_.begin(), algorithms_.end(), p.algorithm) != algorithms_.end();
  }

  static bool signature_matches(const Exchange& x, const auth::HmacParams& p, const std::string& secret) {
    auth::SignedRequest r{&x.request_headers, x.method, x.log.uri, x.minor_version};
    std::optional<std::string> mac = auth::hmac(p.algorithm, secret, auth::signing_string(p.headers, r));
    std::string given;
    return mac && auth::decode_base64(p.signature, given) && given == *mac;
  }

  // No Digest header passes only an empty body.
  static bool digest_matches(const Exchange& x, std::string_view body) {
    const http::HeaderMap::Entry* digest = x.request_headers.find("Digest");
    if (digest == nullptr) return body.empty();
    return digest->value == auth::sha256_digest_header(body);
  }

  Verdict unauthorized(Exchange& x, const char* message) const {
    return exit_error(x, 401, message, {{"WWW-Authenticate", challenge_}});
  }

  std::shared_ptr<const Consumers> consumers_;
  std::string anonymous_, challenge_;
  bool hide_, validate_body_;
  double clock_skew_;
  std::vector<std::string> enforce_, algorithms_;
};

std::optional<std::string> positive(const config::Value& v) {
  if (v.get<double>() > 0) return std::nullopt;
  return "value must be greater than 0";
}

}  // namespace

PluginType hmac_auth_type() {
  std::vector<config::Value> algorithms = {"hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"};
  Field config = config_record({
      Field("hide_credentials", Type::Boolean).req().def(false),
      Field("clock_skew", Type::Number).def(300).check(positive),
      Field("anonymous", Type::String),
      Field("validate_request_body", Type::Boolean).req().def(false),
      Field("enforce_headers", Type::Array).of(Field("", Type::String)).def(config::Value::array()),
      Field("algorithms", Type::Array).of(Field("", Type::String).choices(algorithms))
          .def(config::Value(algorithms)),
      Field("realm", Type::String),
  });
  return {"hmac-auth", 1030, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<HmacAuth>(c, ctx.consumers, c.value("validate_request_body", false));
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

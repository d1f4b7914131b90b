// jwt (PRIORITY 1450): identifies the consumer by a JSON Web Token (RFC
// 7519) signed with one of its jwt_secrets. The token comes from a query
// argument, a cookie or a "Bearer" header; its key claim (`iss` by default)
// names the secret; the signature and, when asked, exp/nbf are checked.
// With `anonymous` set, a failure lets the request through as that consumer.
#include <chrono>

#include "plugins/bundled.h"
#include "plugins/consumers.h"
#include "plugins/jose.h"

namespace wg::plugins {
namespace {

// Why authentication failed: a message, or Kong's claim errors as the body.
struct Failure {
  std::string message;  // empty when `errors` is the body
  config::Value errors;
  bool with_error = true;  // WWW-Authenticate carries error="invalid_token"
};

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A query argument's name or value as nginx's get_uri_args gives it.
std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// What Kong's `[Bb]earer\s+(.+)` finds anywhere in a header value: the rest
// of the value after the first "Bearer"/"bearer" and its blanks.
std::string_view bearer_token(std::string_view v) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  for (size_t i = 0; i + 6 < v.size(); ++i) {
    if ((v[i] != 'B' && v[i] != 'b') || v.substr(i + 1, 5) != "earer") continue;
    size_t j = i + 6;
    while (j < v.size() && blank(v[j])) ++j;
    if (j == i + 6) continue;  // no blank after the word
    // Greedy blanks give one back when nothing else follows them.
    if (j == v.size()) j = j - 1 > i + 6 ? j - 1 : v.size();
    if (j == v.size()) continue;
    std::string_view token = v.substr(j);
    return token.substr(0, token.find('\n'));
  }
  return {};
}

// The value of cookie `name` in the Cookie headers ("" when absent), as
// nginx's $cookie_NAME: the first match, the name compared in any case and
// blanks allowed around '='; the value runs to ';', entries end at ';' or ','.
std::string_view cookie(const Exchange& x, std::string_view name) {
  auto skip_blanks = [](std::string_view& s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  };
  for (const auto& h : x.request_headers) {
    if (!http::iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      skip_blanks(rest);
      if (rest.size() > name.size() && http::iequals(rest.substr(0, name.size()), name)) {
        std::string_view after = rest.substr(name.size());
        skip_blanks(after);
        if (!after.empty() && after.front() == '=') {
          after.remove_prefix(1);
          skip_blanks(after);
          return after.substr(0, after.find(';'));
        }
      }
      size_t end = rest.find_first_of(";,");
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
  }
  return {};
}

// The three parts of a token, decoded, or Kong's reason it is a bad one.
struct Token {
  config::Value header, claims;
  std::string signature;
  std::string_view signing_input;  // header.claims, as signed
  jose::Alg alg = jose::Alg::Unknown;
};

// Strict JSON, as cjson decodes (the config's parse_value reads YAML).
bool parse_json(const std::string& text, config::Value* out) {
  *out = config::Value::parse(text, nullptr, false);
  return !out->is_discarded();
}

const char* decode_token(std::string_view text, Token* t) {
  size_t dot1 = text.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return "invalid JSON";
  std::string header, claims;
  if (!jose::base64url_decode(text.substr(0, dot1), &header) || !parse_json(header, &t->header) ||
      !jose::base64url_decode(text.substr(dot1 + 1, dot2 - dot1 - 1), &claims) || !parse_json(claims, &t->claims)) {
    return "invalid JSON";
  }
  bool signature_ok = jose::base64url_decode(text.substr(dot2 + 1), &t->signature);
  auto alg = t->header.is_object() ? t->header.find("alg") : t->header.end();
  if (!t->header.is_object() || alg == t->header.end() || !alg->is_string()) return "invalid alg";
  t->alg = jose::parse_alg(alg->get_ref<const std::string&>());
  if (t->alg == jose::Alg::Unknown) return "invalid alg";
  if (t->claims.is_null()) return "invalid claims";
  if (!signature_ok) return "invalid signature";
  t->signing_input = text.substr(0, dot2);
  return nullptr;
}

// A claim as Lua's `claims[name] or header[name]` reads it: unset and false
// fall through to the header.
const config::Value* lookup(const config::Value& obj, const std::string& name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null() || (it->is_boolean() && !it->get<bool>())) return nullptr;
  return &*it;
}

class Jwt : public Plugin {
 public:
  Jwt(const config::Value& c, std::shared_ptr<const Consumers> consumers)
      : Plugin("jwt", 1450, pipeline::phase_bit(pipeline::Phase::Access)),
        consumers_(std::move(consumers)),
        claim_(c.value("key_claim_name", std::string("iss"))),
        anonymous_(str_or_empty(c, "anonymous")),
        base64_(c.value("secret_is_base64", false)),
        on_preflight_(c.value("run_on_preflight", true)),
        max_exp_(c.value("maximum_expiration", 0.0)) {
    auto names = [&](const char* key) {
      std::vector<std::string> out;
      for (const auto& n : c.value(key, config::Value::array())) out.push_back(n.get<std::string>());
      return out;
    };
    uri_params_ = names("uri_param_names");
    cookies_ = names("cookie_names");
    headers_ = names("header_names");
    claim_order_ = names("claims_to_verify");
    std::string realm = str_or_empty(c, "realm");
    challenge_ = realm.empty() ? "Bearer" : "Bearer realm=\"" + realm + "\"";
    challenge_error_ = realm.empty() ? "Bearer error=\"invalid_token\"" : challenge_ + ", error=\"invalid_token\"";
  }

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    if (!on_preflight_ && x.method == "OPTIONS") return Verdict::Continue;
    // With anonymous set, auth plugins are alternatives: one that already
    // identified a credential settles it.
    if (!anonymous_.empty() && !x.credential_id.empty()) return Verdict::Continue;
    Failure failure;
    if (authenticate_token(x, &failure)) return Verdict::Continue;
    if (!anonymous_.empty()) {
      const config::Consumer* anon = consumers_->by_id_or_username(anonymous_);
      if (anon == nullptr) {
        return exit_error(x, 500, "anonymous consumer " + anonymous_ + " is configured but doesn't exist");
      }
      authenticate(x, *anon, nullptr);
      return Verdict::Continue;
    }
    config::Value body =
        failure.message.empty() ? std::move(failure.errors) : config::Value{{"message", failure.message}};
    return exit_with(x, 401, config::to_json(body),
                     {{"Content-Type", "application/json; charset=utf-8"},
                      {"WWW-Authenticate", failure.with_error ? challenge_error_ : challenge_}});
  }

 private:
  // Kong's retrieve_tokens: every distinct non-empty token from the query
  // arguments, cookies and headers. A bare `?jwt` counts as a token that is
  // no string (Kong: "Unrecognizable token").
  void find_tokens(const Exchange& x, std::vector<std::string>* tokens, bool* bare) const {
    auto add = [&](std::string_view t) {
      if (t.empty()) return;
      for (const auto& have : *tokens) {
        if (have == t) return;
      }
      tokens->emplace_back(t);
    };
    std::string_view target = request_header(x, ":path");
    size_t q = target.find('?');
    if (!uri_params_.empty() && q != std::string_view::npos) {
      std::string_view query = target.substr(q + 1);
      while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        size_t eq = pair.find('=');
        std::string_view raw = pair.substr(0, eq);
        // Names are decoded only when they carry an escape (most do not).
        std::string decoded;
        if (raw.find_first_of("%+") != std::string_view::npos) raw = decoded = url_decode(raw);
        for (const auto& p : uri_params_) {
          if (p != raw) continue;
          if (eq == std::string_view::npos) {
            *bare = true;
          } else {
            add(url_decode(pair.substr(eq + 1)));
          }
        }
      }
    }
    for (const auto& c : cookies_) add(cookie(x, c));
    for (const auto& h : headers_) {
      std::string_view v = request_header(x, h);
      if (!v.empty()) add(bearer_token(v));
    }
  }

  bool authenticate_token(Exchange& x, Failure* f) const {
    std::vector<std::string> tokens;
    bool bare = false;
    find_tokens(x, &tokens, &bare);
    size_t n = tokens.size() + (bare ? 1 : 0);
    if (n == 0) {
      f->message = "Unauthorized";
      f->with_error = false;
      return false;
    }
    if (n > 1) return fail(f, "Multiple tokens provided");
    if (bare) return fail(f, "Unrecognizable token");
    Token t;
    if (const char* why = decode_token(tokens[0], &t)) return fail(f, std::string("Bad token; ") + why);

    const config::Value* key = lookup(t.claims, claim_);
    if (key == nullptr) key = lookup(t.header, claim_);
    if (key == nullptr) return fail(f, "No mandatory '" + claim_ + "' in claims");
    if (key->is_string() && key->get_ref<const std::string&>().empty()) {
      return fail(f, "Invalid '" + claim_ + "' in claims");
    }
    const JwtCredential* cred = key->is_string() ? consumers_->jwt(key->get_ref<const std::string&>()) : nullptr;
    if (cred == nullptr) return fail(f, "No credentials found for given '" + claim_ + "'");
    if (t.header["alg"].get_ref<const std::string&>() != cred->secret.algorithm) return fail(f, "Invalid algorithm");

    bool hmac = jose::is_hmac(t.alg);
    bool have_key = hmac ? (!base64_ || cred->decodable) : cred->key != nullptr;
    if (!have_key) return fail(f, "Invalid key/secret");
    std::string_view secret = base64_ ? cred->decoded_secret : cred->secret.secret;
    if (!jose::verify(t.alg, t.signing_input, t.signature, secret, cred->key)) return fail(f, "Invalid signature");

    if (!check_claims(t.claims, f)) return false;
    authenticate(x, consumers_->consumer_of(*cred), &cred->secret.id, &cred->secret.key);
    return true;
  }

  // Kong's verify_registered_claims, then check_maximum_expiration: the
  // errors are the body ({"exp": "token expired"}).
  bool check_claims(const config::Value& claims, Failure* f) const {
    double now = static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    config::Value errors = config::Value::object();
    for (const auto& name : claim_order_) {
      const config::Value* v = claims.is_object() && claims.contains(name) ? &claims[name] : nullptr;
      if (v == nullptr || !v->is_number()) {
        errors[name] = "must be a number";
      } else if (name == "exp" && v->get<double>() <= now) {
        errors[name] = "token expired";
      } else if (name == "nbf" && v->get<double>() > now) {
        errors[name] = "token not valid yet";
      }
    }
    if (errors.empty() && max_exp_ > 0) {
      const config::Value* exp = claims.is_object() && claims.contains("exp") ? &claims["exp"] : nullptr;
      if (exp == nullptr || !exp->is_number() || exp->get<double>() - now > max_exp_) {
        errors["exp"] = "exceeds maximum allowed expiration";
      }
    }
    if (errors.empty()) return true;
    f->errors = std::move(errors);
    return false;
  }

  static bool fail(Failure* f, std::string message) {
    f->message = std::move(message);
    return false;
  }

  std::shared_ptr<const Consumers> consumers_;
  std::vector<std::string> uri_params_, cookies_, headers_, claim_order_;
  std::string claim_, anonymous_, challenge_, challenge_error_;
  bool base64_, on_preflight_;
  double max_exp_;
};

// Kong's entity check: a maximum expiration needs exp among the claims to verify.
void check_max_expiration(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  auto max = c.find("maximum_expiration");
  if (max == c.end() || !max->is_number() || max->get<double>() <= 0) return;
  auto claims = c.find("claims_to_verify");
  if (claims != c.end() && claims->is_array()) {
    for (const auto& v : *claims) {
      if (v == "exp") return;
    }
  }
  out.push_back({"", "failed conditional validation given value of field 'config.maximum_expiration'"});
  out.push_back({"claims_to_verify", "expected to contain: exp"});
}

}  // namespace

PluginType jwt_type() {
  auto names = [](const char* name, config::Value dflt) {
    return Field(name, Type::Set).of(Field("", Type::String)).def(std::move(dflt));
  };
  schema::EntityCheck max_exp;
  max_exp.fields = {"maximum_expiration", "claims_to_verify"};
  max_exp.custom = check_max_expiration;
  Field config = config_record({
      names("uri_param_names", config::Value::array({"jwt"})),
      names("cookie_names", config::Value::array()),
      Field("key_claim_name", Type::String).def("iss"),
      Field("secret_is_base64", Type::Boolean).req().def(false),
      Field("claims_to_verify", Type::Set).of(Field("", Type::String).choices({"exp", "nbf"})),
      Field("anonymous", Type::String),
      Field("run_on_preflight", Type::Boolean).req().def(true),
      Field("maximum_expiration", Type::Number).def(0).range(0, 31536000),
      names("header_names", config::Value::array({"authorization"})),
      Field("realm", Type::String),
  });
  config.record_checks = {max_exp};
  return {"jwt", 1450, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<Jwt>(c, ctx.consumers);
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

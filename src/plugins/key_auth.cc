// key-auth (PRIORITY 1250): identifies the consumer by an API key in a
// header or query argument (key_names), or lets the request through as the
// `anonymous` consumer; 401 otherwise.
#include "plugins/bundled.h"
#include "plugins/consumers.h"

namespace wg::plugins {
namespace {

// The request target without query argument `name`.
std::string without_arg(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q));
  std::string_view query = target.substr(q + 1);
  std::string kept;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (pair.substr(0, pair.find('=')) != name) kept += (kept.empty() ? "" : "&") + std::string(pair);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return kept.empty() ? out : out + "?" + kept;
}

// How many request headers are named `name`, and the first one's value:
// one pass over the head.
size_t header_count(const Exchange& x, std::string_view name, std::string_view* first) {
  size_t n = 0;
  x.request_headers.any_field([&](const http::Header& h) {  // a deferred head too (read in access only)
    if (h.name.size() == name.size() && http::iequals(h.name, name) && n++ == 0) *first = h.value;
    return false;
  });
  return n;
}

class KeyAuth : public Plugin {
 public:
  // The request head, read in access only (the key, client-sent consumer
  // headers: a deferred head, copied in only to hide the key or replace
  // consumer headers the client sent); the upstream URI when it hides a
  // key sent in the query.
  uint32_t heads() const override {
    return all_protocols() ? pipeline::phase_reads_bit(pipeline::Direction::Request) : pipeline::kBothHeads;
  }

  KeyAuth(const config::Value& c, std::shared_ptr<const Consumers> consumers)
      : Plugin("key-auth", 1250, pipeline::phase_bit(pipeline::Phase::Access)),
        consumers_(std::move(consumers)),
        anonymous_(str_or_empty(c, "anonymous")),
        hide_(c.value("hide_credentials", false)),
        in_header_(c.value("key_in_header", true)),
        in_query_(c.value("key_in_query", true)),
        on_preflight_(c.value("run_on_preflight", true)) {
    for (const auto& n : c.value("key_names", config::Value::array())) key_names_.push_back(n.get<std::string>());
    std::string realm = str_or_empty(c, "realm");
    challenge_ = realm.empty() ? "Key" : "Key realm=\"" + realm + "\"";
  }

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    if (!on_preflight_ && x.method == "OPTIONS") return Verdict::Continue;
    // Another auth plugin already identified a credential: with anonymous
    // set, auth plugins are alternatives, and this one has nothing to add.
    if (!anonymous_.empty() && !x.credential_id.empty()) return Verdict::Continue;
    const char* failure = identify(x);
    if (failure == nullptr) return Verdict::Continue;
    if (!anonymous_.empty()) {
      const config::Consumer* anon = consumers_->by_id_or_username(anonymous_);
      if (anon == nullptr) return exit_error(x, 500, "anonymous consumer " + anonymous_ + " is configured but doesn't exist");
      authenticate(x, *anon, nullptr);
      return Verdict::Continue;
    }
    return exit_error(x, 401, failure, {{"WWW-Authenticate", challenge_}});
  }

 private:
  // Finds the key and its consumer; the reason it could not, or null.
  const char* identify(Exchange& x) const {
    // A view into the request map's bytes; a copy when the key is hidden
    // (changing the map may compact its storage).
    std::string_view key;
    std::string hidden;
    for (const auto& name : key_names_) {
      if (in_header_) {
        size_t n = header_count(x, name, &key);
        if (n > 1) return "Duplicate API key found";
        if (n == 1) {
          if (hide_) {
            key = hidden.assign(key);
            x.request_headers.remove(name);
          }
          break;
        }
      }
      if (in_query_) {
        int n = 0;
        std::string_view target = request_header(x, ":path");
        std::string_view v = query_arg(target, name, &n);
        if (n > 1) return "Duplicate API key found";
        if (n == 1) {
          key = v;
          if (hide_) {
            key = hidden.assign(key);
            x.request_headers.replace(":path", without_arg(target, name));
          }
          break;
        }
      }
    }
    if (key.empty()) return "No API key found in request";
    const config::KeyauthCredential* cred = consumers_->keyauth(key);
    if (cred == nullptr) return "Unauthorized";
    authenticate(x, consumers_->consumer_of(*cred), cred->id, consumers_->lines_of(*cred));
    return nullptr;
  }

  std::shared_ptr<const Consumers> consumers_;
  std::vector<std::string> key_names_;
  std::string anonymous_, challenge_;
  bool hide_, in_header_, in_query_, on_preflight_;
};

}  // namespace

PluginType key_auth_type() {
  Field config = config_record({
      Field("key_names", Type::Array).req().min_len(1).of(typedefs::header_name(""))
          .def(config::Value::array({"apikey"})),
      Field("hide_credentials", Type::Boolean).req().def(false),
      Field("anonymous", Type::String),
      Field("key_in_header", Type::Boolean).req().def(true),
      Field("key_in_query", Type::Boolean).req().def(true),
      Field("key_in_body", Type::Boolean).req().def(false).not_yet(),
      Field("run_on_preflight", Type::Boolean).req().def(true),
      Field("realm", Type::String),
  });
  return {"key-auth", 1250, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<KeyAuth>(c, ctx.consumers);
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

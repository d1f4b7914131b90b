// basic-auth (PRIORITY 1100): identifies the consumer by a username and
// password in a Basic Proxy-Authorization or Authorization header, checked
// against the credential's salted hash; or lets the request through as the
// `anonymous` consumer; 401 otherwise.
#include "config/credentials.h"
#include "plugins/auth_codec.h"
#include "plugins/bundled.h"
#include "plugins/consumers.h"

namespace wg::plugins {
namespace {

class BasicAuth : public Plugin {
 public:
  BasicAuth(const config::Value& c, std::shared_ptr<const Consumers> consumers)
      : Plugin("basic-auth", 1100, pipeline::phase_bit(pipeline::Phase::Access)),
        consumers_(std::move(consumers)),
        anonymous_(str_or_empty(c, "anonymous")),
        hide_(c.value("hide_credentials", false)),
        challenge_("Basic realm=\"" + c.value("realm", std::string("service")) + "\"") {}

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    // With anonymous set, auth plugins are alternatives: one that already
    // identified a credential is enough.
    if (!anonymous_.empty() && !x.credential_id.empty()) return Verdict::Continue;
    if (identify(x)) return Verdict::Continue;
    if (!anonymous_.empty()) {
      const config::Consumer* anon = consumers_->by_id_or_username(anonymous_);
      if (anon == nullptr) return exit_error(x, 500, "anonymous consumer " + anonymous_ + " is configured but doesn't exist");
      authenticate(x, *anon, nullptr);
      return Verdict::Continue;
    }
    return exit_error(x, 401, "Unauthorized", {{"WWW-Authenticate", challenge_}});
  }

 private:
  // Kong tries Proxy-Authorization first, then Authorization; with
  // hide_credentials each header it read is removed from what goes upstream.
  bool identify(Exchange& x) const {
    std::string_view authorization = request_header(x, "Authorization");
    std::string_view proxy = request_header(x, "Proxy-Authorization");
    // Present but empty counts as present (the header is still hidden).
    if (x.request_headers.find("Authorization") == nullptr && x.request_headers.find("Proxy-Authorization") == nullptr) {
      return false;
    }
    std::string user, password;
    const config::BasicauthCredential* cred = nullptr;
    if (read(x, "Proxy-Authorization", proxy, user, password)) cred = consumers_->basicauth(user);
    if (cred == nullptr) {
      if (!read(x, "Authorization", authorization, user, password)) return false;
      cred = consumers_->basicauth(user);
    }
    if (cred == nullptr) return false;
    const config::Consumer& consumer = consumers_->consumer_of(*cred);
    if (config::basicauth_password_hash(consumer.id, password) != cred->password_hash) return false;
    authenticate(x, consumer, &cred->id, &cred->username);
    return true;
  }

  // The user and password in one header (copied out before it may go).
  bool read(Exchange& x, std::string_view name, std::string_view value, std::string& user,
            std::string& password) const {
    bool ok = !value.empty() && auth::parse_basic(value, user, password);
    if (hide_) x.request_headers.remove(name);
    return ok;
  }

  std::shared_ptr<const Consumers> consumers_;
  std::string anonymous_;
  bool hide_;
  std::string challenge_;
};

}  // namespace

PluginType basic_auth_type() {
  Field config = config_record({
      Field("anonymous", Type::String),
      Field("hide_credentials", Type::Boolean).req().def(false),
      Field("realm", Type::String).req().def("service"),
  });
  return {"basic-auth", 1100, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<BasicAuth>(c, ctx.consumers);
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

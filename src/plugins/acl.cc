// acl (PRIORITY 950): admits the authenticated consumer by its ACL groups
// (allow or deny), and tells the upstream its groups (X-Consumer-Groups).
#include <set>

#include "plugins/bundled.h"
#include "plugins/consumers.h"

namespace wg::plugins {
namespace {

constexpr const char* kForbidden = "You cannot consume this service";

class Acl : public Plugin {
 public:
  Acl(const config::Value& c, std::shared_ptr<const Consumers> consumers)
      : Plugin("acl", 950, pipeline::phase_bit(pipeline::Phase::Access)),
        consumers_(std::move(consumers)),
        hide_(c.value("hide_groups_header", false)) {
    auto allow = c.find("allow");
    deny_mode_ = allow == c.end() || !allow->is_array() || allow->empty();
    for (const auto& g : c.value(deny_mode_ ? "deny" : "allow", config::Value::array())) {
      listed_.insert(g.get<std::string>());
    }
  }

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    if (x.consumer_id.empty()) {
      return x.credential_id.empty() ? exit_error(x, 401) : exit_error(x, 403, kForbidden);
    }
    const std::vector<std::string>& groups = consumers_->groups(x.consumer_id);
    if (groups.empty() && !deny_mode_) {
      // Kong: a consumer without groups under an allow list.
      return x.credential_id.empty() ? exit_error(x, 401) : exit_error(x, 403, kForbidden);
    }
    bool listed = false;
    for (const auto& g : groups) listed = listed || listed_.count(g) > 0;
    if (listed == deny_mode_) return exit_error(x, 403, kForbidden);
    if (!hide_ && !groups.empty()) {
      std::string joined;
      for (const auto& g : groups) joined += (joined.empty() ? "" : ", ") + g;
      x.request_headers.replace("X-Consumer-Groups", joined);
    }
    return Verdict::Continue;
  }

 private:
  std::shared_ptr<const Consumers> consumers_;
  std::set<std::string> listed_;
  bool deny_mode_ = false;
  bool hide_;
};

}  // namespace

PluginType acl_type() {
  schema::EntityCheck one;
  one.kind = schema::EntityCheck::Kind::OnlyOneOf;
  one.fields = {"allow", "deny"};
  one.then_err = "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'";
  Field config = config_record({
      Field("allow", Type::Array).of(Field("", Type::String)),
      Field("deny", Type::Array).of(Field("", Type::String)),
      Field("hide_groups_header", Type::Boolean).req().def(false),
      Field("always_use_authenticated_groups", Type::Boolean).req().def(false),
  });
  config.record_checks = {one};
  return {"acl", 950, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<Acl>(c, ctx.consumers);
          },
          /*no_consumer=*/true};
}

}  // namespace wg::plugins

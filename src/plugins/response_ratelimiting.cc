// response-ratelimiting (PRIORITY 900): limits that the upstream spends.
// Each named limit (config.limits.<name>.<period>) is spent by what the
// upstream's response says in its `header_name` header ("videos=2,
// images=1"). Access reads what is left: a request whose limit is already
// spent is refused only with block_on_first_violation; the upstream is
// told what is left of each limit (X-RateLimit-Remaining-<name>). The
// response head gets Kong's X-RateLimit-Limit-<name>-<period> and
// -Remaining-<name>-<period>, loses the upstream's header, and becomes a
// bodiless 429 when it spends a limit that was already spent. The log
// phase counts what was spent: in this node's shared::WindowCounters
// (policy local) or in Redis under Kong's keys (policy redis; access then
// waits for the counts without holding the worker, and the log phase adds
// without waiting).
#include <charconv>
#include <chrono>
#include <cmath>

#include "plugins/bundled.h"
#include "plugins/log_senders.h"
#include "plugins/redis_client.h"
#include "shared/counters.h"

namespace wg::plugins {
namespace {

struct Period {
  const char* name;
  int64_t length_s;
};
// The same windows as rate-limiting (window_start), in Kong's order.
constexpr Period kPeriods[] = {{"second", 1},     {"minute", 60},      {"hour", 3600},
                               {"day", 86400},    {"month", 2592000}, {"year", 31536000}};
constexpr size_t kNumPeriods = std::size(kPeriods);

// One named limit, with everything a request needs built once.
struct Limit {
  std::string name;
  double limit[kNumPeriods];  // < 0: not configured
  std::string limit_text[kNumPeriods];
  std::string limit_header[kNumPeriods], remaining_header[kNumPeriods];  // X-RateLimit-*-<name>-<period>
  std::string upstream_header;  // X-RateLimit-Remaining-<name>
};

// What a request keeps between its phases (in the slot, reused by the
// session's next request).
struct Usage {
  std::vector<double> remaining;  // [limit * kNumPeriods + period], before this request (count, then left)
  std::vector<int64_t> spent;     // per limit, from the response header (0: none)
  std::string identifier;
  int64_t now = 0;
  bool counted = false;  // access read the counters (log counts)
  bool stop_log = false;
};

class ResponseRateLimiting : public Plugin {
 public:
  ResponseRateLimiting(const config::Value& c, const BuildContext& ctx)
      : Plugin("response-ratelimiting", 900,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter) |
                   pipeline::phase_bit(pipeline::Phase::Log)),
        header_name_(str_or_empty(c, "header_name")),
        limit_by_(str_or_empty(c, "limit_by")),
        block_(c.value("block_on_first_violation", false)),
        hide_(c.value("hide_client_headers", false)),
        fault_tolerant_(c.value("fault_tolerant", true)),
        redis_(str_or_empty(c, "policy") == "redis") {
    const std::string scope = scope_ids(ctx);
    prefix_ = hashed_scope_prefix("rrl", scope);
    if (redis_) {
      server_ = redis_server(c);
      // Kong's keys: response-ratelimit:<route>:<service>:<id>:<ms>:<name>:<period>.
      redis_prefix_ = "response-ratelimit:" + scope + ":";
    }
    auto limits = c.find("limits");
    if (limits == c.end() || !limits->is_object()) return;
    for (auto it = limits->begin(); it != limits->end(); ++it) {
      Limit l;
      l.name = it.key();
      l.upstream_header = "X-RateLimit-Remaining-" + l.name;
      for (size_t p = 0; p < kNumPeriods; ++p) {
        auto v = it->find(kPeriods[p].name);
        l.limit[p] = v != it->end() && v->is_number() ? v->get<double>() : -1;
        if (l.limit[p] < 0) continue;
        l.limit_text[p] = number_text(l.limit[p]);
        l.limit_header[p] = "X-RateLimit-Limit-" + l.name + "-" + kPeriods[p].name;
        l.remaining_header[p] = "X-RateLimit-Remaining-" + l.name + "-" + kPeriods[p].name;
      }
      limits_.push_back(std::move(l));
    }
  }

  void detach(Exchange&, Slot& s) const override {
    if (s.state) static_cast<Usage*>(s.state.get())->counted = false;
  }
  // The Usage stays for the session's next request (access resets it), as
  // rate-limiting's Quota: no allocation per request.
  bool keeps_state() const override { return true; }

  void on_log(Exchange& x, Slot& s) const override {
    if (!serves(x) || !s.state) return;
    Usage& u = *static_cast<Usage*>(s.state.get());
    if (!u.counted || u.stop_log) return;
    if (redis_) return add_in_redis(u);
    auto& counters = shared::WindowCounters::instance();
    thread_local std::string key;
    for (size_t i = 0; i < limits_.size(); ++i) {
      if (u.spent[i] <= 0) continue;  // the counters only grow
      for (size_t p = 0; p < kNumPeriods; ++p) {
        if (limits_[i].limit[p] < 0) continue;
        const int64_t start = window_start(p, u.now);
        make_key(key, u.identifier, limits_[i].name, start, p);
        counters.add(key, static_cast<uint64_t>(u.spent[i]), start + kPeriods[p].length_s, u.now);
      }
    }
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    if (limits_.empty()) return Verdict::Continue;
    if (!s.state) s.state = std::make_shared<Usage>();
    Usage& u = *static_cast<Usage*>(s.state.get());
    u.now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
    u.remaining.assign(limits_.size() * kNumPeriods, 0);
    u.spent.assign(limits_.size(), 0);
    u.stop_log = false;
    u.identifier.clear();
    u.counted = false;
    append_identifier(x, u.identifier);
    if (redis_) return ask_redis(x, s);
    auto& counters = shared::WindowCounters::instance();
    thread_local std::string key;
    for (size_t i = 0; i < limits_.size(); ++i) {
      for (size_t p = 0; p < kNumPeriods; ++p) {
        if (limits_[i].limit[p] < 0) continue;
        make_key(key, u.identifier, limits_[i].name, window_start(p, u.now), p);
        u.remaining[i * kNumPeriods + p] = limits_[i].limit[p] - static_cast<double>(counters.get(key, u.now));
      }
    }
    return settle(x, u);
  }

  // With what is left of each limit known: refuse a spent one (with
  // block_on_first_violation), else tell the upstream what is left.
  Verdict settle(Exchange& x, Usage& u) const {
    for (size_t i = 0; i < limits_.size(); ++i) {
      const Limit& l = limits_[i];
      double least = 0;
      bool any = false;
      for (size_t p = 0; p < kNumPeriods; ++p) {
        if (l.limit[p] < 0) continue;
        const double left = u.remaining[i * kNumPeriods + p];
        // Kong refuses only a limit spent to exactly zero here.
        if (block_ && left == 0) {
          return exit_json(x, 429, "API rate limit exceeded for '" + l.name + "'");
        }
        if (!any || left < least) least = left;
        any = true;
      }
      char buf[32];
      x.request_headers.replace(l.upstream_header, number_view(least, buf));
    }
    u.counted = true;
    return Verdict::Continue;
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (limits_.empty() || !s.state) return Verdict::Continue;
    Usage& u = *static_cast<Usage*>(s.state.get());
    if (!u.counted) return Verdict::Continue;
    if (const auto* h = x.response_headers.find(header_name_)) parse_spent(h->value, u);
    bool stop = false;
    char buf[32];
    for (size_t i = 0; i < limits_.size(); ++i) {
      const Limit& l = limits_[i];
      for (size_t p = 0; p < kNumPeriods; ++p) {
        if (l.limit[p] < 0) continue;
        const double left = u.remaining[i * kNumPeriods + p];
        if (!hide_) {
          x.response_headers.replace(l.limit_header[p], l.limit_text[p]);
          x.response_headers.replace(l.remaining_header[p],
                                     number_view(std::max(0.0, left - static_cast<double>(u.spent[i])), buf));
        }
        if (u.spent[i] > 0 && left <= 0) stop = true;
      }
    }
    x.response_headers.remove(header_name_);
    if (stop) {
      // Kong: a bodiless 429 in place of the response, and nothing counted.
      u.stop_log = true;
      http::HeaderList headers;
      if (!hide_) {
        for (const auto& e : x.response_headers) {
          std::string_view n = e.name;
          if (n.size() > 12 && http::iequals(n.substr(0, 12), "x-ratelimit-")) headers.emplace_back(n, e.value);
        }
      }
      return exit_with(x, 429, "", std::move(headers));
    }
    return Verdict::Continue;
  }

 private:
  // Policy redis, access: one GET per limit and period; the request waits.
  Verdict ask_redis(Exchange& x, Slot& s) const {
    RedisClients* clients = RedisClients::current();
    if (clients == nullptr) return Verdict::Continue;
    thread_local std::string wire, key;
    wire.clear();
    size_t count = 0;
    for (size_t i = 0; i < limits_.size(); ++i) {
      for (size_t p = 0; p < kNumPeriods; ++p) {
        if (limits_[i].limit[p] < 0) continue;
        Usage& u = *static_cast<Usage*>(s.state.get());
        redis_key(key, u, limits_[i].name, p);
        redis_command(wire, {"GET", key});
        ++count;
      }
    }
    std::shared_ptr<Usage> u = std::static_pointer_cast<Usage>(s.state);
    pipeline::ResumeHandle handle(x);
    Exchange* xp = &x;
    clients->call(server_, wire, count,
                  [this, u, handle, xp](const std::string* error, std::vector<RedisReply>& replies) {
                    if (!handle.current()) return;  // the request ended meanwhile
                    redis_answer(*xp, *u, error, replies);
                    if (xp->local_reply) {
                      xp->wake();
                    } else {
                      handle.resume(pipeline::Direction::Request);
                    }
                  });
    return Verdict::Pause;
  }

  void redis_answer(Exchange& x, Usage& u, const std::string* error, const std::vector<RedisReply>& replies) const {
    std::string why = error != nullptr ? *error : std::string();
    size_t r = 0;
    for (size_t i = 0; i < limits_.size() && why.empty(); ++i) {
      for (size_t p = 0; p < kNumPeriods && why.empty(); ++p) {
        if (limits_[i].limit[p] < 0) continue;
        const RedisReply& reply = replies[r++];
        int64_t used = 0;
        if (reply.type == RedisReply::Type::Bulk) {
          auto [end, ec] = std::from_chars(reply.text.data(), reply.text.data() + reply.text.size(), used);
          if (ec != std::errc()) used = 0;
        } else if (reply.type != RedisReply::Type::Nil) {
          why = reply.type == RedisReply::Type::Error ? reply.text : "unexpected reply";
        }
        u.remaining[i * kNumPeriods + p] = limits_[i].limit[p] - static_cast<double>(used);
      }
    }
    if (!why.empty()) {
      // Kong: fault tolerant, the request goes on uncounted; else 500.
      log_sender_error("response-ratelimiting", "failed to get usage: " + why);
      if (!fault_tolerant_) exit_json(x, 500, "An unexpected error occurred");
      return;
    }
    settle(x, u);
  }

  // Policy redis, log: adds what was spent to every period's counter, as
  // Kong does, without waiting for the answer.
  void add_in_redis(const Usage& u) const {
    RedisClients* clients = RedisClients::current();
    if (clients == nullptr) return;
    thread_local std::string wire, key;
    wire.clear();
    size_t count = 0;
    for (size_t i = 0; i < limits_.size(); ++i) {
      if (u.spent[i] <= 0) continue;
      const std::string by = std::to_string(u.spent[i]);
      for (size_t p = 0; p < kNumPeriods; ++p) {
        redis_key(key, u, limits_[i].name, p);
        redis_command(wire, {"EVAL", kRedisCountScript, "1", key, by, std::to_string(kPeriods[p].length_s)});
        ++count;
      }
    }
    if (count == 0) return;
    clients->call(server_, wire, count, [](const std::string* error, std::vector<RedisReply>& replies) {
      std::string why = error != nullptr ? *error : std::string();
      for (const auto& r : replies) {
        if (r.type == RedisReply::Type::Error) why = r.text;
      }
      if (!why.empty()) log_sender_error("response-ratelimiting", "failed to increment: " + why);
    });
  }

  void redis_key(std::string& key, const Usage& u, const std::string& name, size_t p) const {
    key.assign(redis_prefix_).append(u.identifier).append(1, ':');
    key.append(std::to_string(window_start(p, u.now) * 1000)).append(1, ':');
    key.append(name).append(1, ':').append(kPeriods[p].name);
  }

  // "name=n, name2=m": n for each configured name (Kong takes whole decimal
  // numbers only; anything else spends nothing).
  void parse_spent(std::string_view v, Usage& u) const {
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view part = v.substr(0, comma);
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      size_t eq = part.find('=');
      if (eq == std::string_view::npos || part.find('=', eq + 1) != std::string_view::npos) continue;
      std::string_view name = trim(part.substr(0, eq)), n = trim(part.substr(eq + 1));
      for (size_t i = 0; i < limits_.size(); ++i) {
        if (limits_[i].name != name) continue;
        int64_t value = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), value);
        u.spent[i] = ec == std::errc() && end == n.data() + n.size() ? value : 0;
      }
    }
  }

  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }

  static std::string_view number_view(double d, char (&buf)[32]) {
    int n = d == std::floor(d) && std::fabs(d) < 1e15
                ? std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d))
                : std::snprintf(buf, sizeof buf, "%.14g", d);
    return {buf, static_cast<size_t>(n)};
  }

  void make_key(std::string& key, const std::string& id, const std::string& name, int64_t start, size_t p) const {
    key.assign(prefix_).append(id).append(1, ':').append(name).append(1, ':');
    key.append(std::to_string(start)).append(1, ':').append(kPeriods[p].name);
  }

  // Kong's identifier: the consumer (or its credential), the credential,
  // else the client address.
  void append_identifier(const Exchange& x, std::string& out) const {
    if (limit_by_ == "consumer") {
      if (!x.consumer_id.empty()) return void(out.append(x.consumer_id));
      if (!x.credential_id.empty()) return void(out.append(x.credential_id));
    } else if (limit_by_ == "credential") {
      if (!x.credential_id.empty()) return void(out.append(x.credential_id));
    }
    out.append(x.client_ip);
  }

  std::vector<Limit> limits_;
  std::string header_name_, limit_by_;
  bool block_, hide_, fault_tolerant_, redis_;
  std::string prefix_;
  RedisServer server_;
  std::string redis_prefix_;
};

// Kong: within one limit, a longer period may not allow less than a shorter.
void check_order(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  check_window_order(c, "the", out);
}

}  // namespace

PluginType response_ratelimiting_type() {
  std::vector<Field> periods;
  for (const auto& p : kPeriods) periods.push_back(Field(p.name, Type::Number).check(positive_number));
  Field one_limit = Field("", Type::Record).req().with(periods);
  schema::EntityCheck any_period;
  any_period.kind = schema::EntityCheck::Kind::AtLeastOneOf;
  any_period.fields = {"second", "minute", "hour", "day", "month", "year"};
  schema::EntityCheck ordering;
  ordering.fields = any_period.fields;
  ordering.custom = check_order;
  one_limit.record_checks = {any_period, ordering};
  std::vector<Field> fields = {
      Field("header_name", Type::String).def("x-kong-limit"),
      Field("limit_by", Type::String).def("consumer").choices({"consumer", "credential", "ip"}),
      // cluster keeps counters in Kong's database, which we do not have.
      Field("policy", Type::String).def("local").choices({"local", "cluster", "redis"})
          .check([](const config::Value& v) -> std::optional<std::string> {
            if (v.get_ref<const std::string&>() != "cluster") return std::nullopt;
            return "policy 'cluster' is not supported: it needs a database (use 'local' or 'redis')";
          }),
      Field("fault_tolerant", Type::Boolean).req().def(true),
      redis_record(),
      Field("block_on_first_violation", Type::Boolean).req().def(false),
      Field("hide_client_headers", Type::Boolean).req().def(false),
      Field("limits", Type::Map).req().min_len(1).map_of(Field("", Type::String), one_limit),
  };
  add_legacy_redis_fields(fields);
  Field conf = config_record(fields);
  schema::EntityCheck redis_check;
  redis_check.fields = {"policy"};
  redis_check.custom = check_redis_config;
  conf.record_checks = {redis_check};
  return {"response-ratelimiting", 900, conf,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<ResponseRateLimiting>(c, ctx);
          }};
}

}  // namespace wg::plugins

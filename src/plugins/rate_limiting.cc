// rate-limiting (PRIORITY 910), policy "local": counts requests per
// identifier in fixed UTC calendar windows (second .. year), shared by all
// workers of the node (shared::WindowCounters), and answers 429 past a
// limit. Kong's headers tell the client its quota.
#include <chrono>
#include <cmath>
#include <ctime>

#include "plugins/bundled.h"
#include "config/snapshot.h"
#include "shared/counters.h"

namespace wg::plugins {
namespace {

struct Period {
  const char* name;    // config field and key part
  const char* header;  // X-RateLimit-*-<header>
  int64_t length_s;    // Kong's fixed window lengths (month 30 days, year 365)
};
constexpr Period kPeriods[] = {{"second", "Second", 1},         {"minute", "Minute", 60},
                               {"hour", "Hour", 3600},           {"day", "Day", 86400},
                               {"month", "Month", 2592000},      {"year", "Year", 31536000}};
constexpr const char* kNoId = "00000000-0000-0000-0000-000000000000";

// The start of the period containing `now` (UTC calendar boundaries).
int64_t period_start(size_t period, int64_t now) {
  if (period == 0) return now;
  if (period == 1) return now - now % 60;
  if (period == 2) return now - now % 3600;
  if (period == 3) return now - now % 86400;
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mday = 1;
  if (period == 5) tm.tm_mon = 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::string number_text(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.14g", d);
  return buf;
}

// What the plugin tells the client, computed in access, sent in header_filter.
struct Quota {
  http::HeaderList headers;
};

class RateLimiting : public Plugin {
 public:
  RateLimiting(const config::Value& c, const BuildContext& ctx)
      : Plugin("rate-limiting", 910,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter)),
        limit_by_(str_or_empty(c, "limit_by")),
        header_name_(str_or_empty(c, "header_name")),
        path_(str_or_empty(c, "path")),
        hide_(c.value("hide_client_headers", false)),
        error_code_(static_cast<int>(c.value("error_code", 429.0))),
        error_message_(str_or_empty(c, "error_message")),
        scope_((ctx.route_id.empty() ? kNoId : ctx.route_id) + ":" +
               (ctx.service_id.empty() ? kNoId : ctx.service_id) + ":") {
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      auto it = c.find(kPeriods[p].name);
      limits_[p] = it != c.end() && it->is_number() ? it->get<double>() : -1;
    }
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::string prefix = "ratelimit:" + scope_ + identifier(x) + ":";
    auto& counters = shared::WindowCounters::instance();
    std::string keys[std::size(kPeriods)];
    double remaining[std::size(kPeriods)] = {};
    int stop = -1;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      int64_t start = period_start(p, now);
      keys[p] = prefix + std::to_string(start * 1000) + ":" + kPeriods[p].name;
      remaining[p] = limits_[p] - static_cast<double>(counters.get(keys[p], now));
      if (remaining[p] <= 0) stop = static_cast<int>(p);
    }
    http::HeaderList headers = quota_headers(remaining, stop, now);
    if (stop >= 0) {
      if (hide_) headers.clear();
      headers.emplace_back("Content-Type", "application/json; charset=utf-8");
      config::Value body = config::Value::object();
      body["message"] = error_message_;
      return exit_with(x, error_code_, config::to_json(body), std::move(headers));
    }
    // Kong counts only what it lets through.
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      counters.add(keys[p], 1, period_start(p, now) + kPeriods[p].length_s, now);
    }
    if (!hide_) s.state = std::make_shared<Quota>(Quota{std::move(headers)});
    return Verdict::Continue;
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (!s.state) return Verdict::Continue;
    for (const auto& [name, value] : static_cast<const Quota*>(s.state.get())->headers) {
      x.response_headers.replace(name, value);
    }
    return Verdict::Continue;
  }

 private:
  // Kong's get_identifier: what the limit counts by, the client address
  // when that is missing.
  std::string identifier(const Exchange& x) const {
    if (limit_by_ == "consumer") {
      if (!x.consumer_id.empty()) return x.consumer_id;
      if (!x.credential_id.empty()) return x.credential_id;
    } else if (limit_by_ == "credential") {
      if (!x.credential_id.empty()) return x.credential_id;
    } else if (limit_by_ == "service") {
      if (x.service != nullptr) return x.service->cfg.id;
    } else if (limit_by_ == "header") {
      if (x.request_headers.find(header_name_) != nullptr) return std::string(request_header(x, header_name_));
    } else if (limit_by_ == "path") {
      std::string_view p = request_header(x, ":path");
      p = p.substr(0, p.find('?'));
      if (p == path_) return path_;
    }
    return std::string(x.client_ip);
  }

  // X-RateLimit-{Limit,Remaining}-<Period> for each period, and RateLimit-*
  // (and Retry-After when refused) for the one with the least left, the
  // longer window on a tie.
  http::HeaderList quota_headers(const double* remaining, int stop, int64_t now) const {
    http::HeaderList out;
    int chosen = -1;
    double least = 0;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      double shown = stop < 0 || stop == static_cast<int>(p) ? remaining[p] - 1 : remaining[p];
      if (shown < 0) shown = 0;
      out.emplace_back(std::string("X-RateLimit-Limit-") + kPeriods[p].header, number_text(limits_[p]));
      out.emplace_back(std::string("X-RateLimit-Remaining-") + kPeriods[p].header, number_text(shown));
      if (chosen < 0 || shown <= least) {
        chosen = static_cast<int>(p);
        least = shown;
      }
    }
    if (chosen < 0) return out;
    int64_t reset = kPeriods[chosen].length_s - (now - period_start(static_cast<size_t>(chosen), now));
    if (reset < 1) reset = 1;
    out.emplace_back("RateLimit-Limit", number_text(limits_[chosen]));
    out.emplace_back("RateLimit-Remaining", number_text(least));
    out.emplace_back("RateLimit-Reset", std::to_string(reset));
    if (stop >= 0) out.emplace_back("Retry-After", std::to_string(reset));
    return out;
  }

  double limits_[std::size(kPeriods)];
  std::string limit_by_, header_name_, path_;
  bool hide_;
  int error_code_;
  std::string error_message_;
  std::string scope_;
};

std::optional<std::string> positive(const config::Value& v) {
  if (v.get<double>() > 0) return std::nullopt;
  return "value must be greater than 0";
}

// Kong: a longer period may not allow less than a shorter one.
void check_limits(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  auto limit = [&](size_t p) -> double {
    auto it = c.find(kPeriods[p].name);
    return it != c.end() && it->is_number() ? it->get<double>() : -1;
  };
  for (size_t lo = 0; lo < std::size(kPeriods); ++lo) {
    if (limit(lo) < 0) continue;
    for (size_t hi = lo + 1; hi < std::size(kPeriods); ++hi) {
      if (limit(hi) < 0 || limit(hi) >= limit(lo)) continue;
      char buf[160];
      std::snprintf(buf, sizeof buf, "The limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)",
                    kPeriods[hi].name, limit(hi), kPeriods[lo].name, limit(lo));
      out.push_back({"", buf});
      return;
    }
  }
  std::string policy = str_or_empty(c, "policy");
  if (policy != "redis" && c.value("sync_rate", -1.0) != -1.0) {
    out.push_back({"", "sync_rate can only be used with the redis policy"});
  }
}

schema::EntityCheck when(const char* if_field, const char* value, const char* then_field) {
  schema::EntityCheck c;
  c.kind = schema::EntityCheck::Kind::Conditional;
  c.if_field = if_field;
  c.if_match.one_of = {value};
  c.then_field = then_field;
  c.then_match.required = true;
  return c;
}

}  // namespace

PluginType rate_limiting_type() {
  schema::EntityCheck any_limit;
  any_limit.kind = schema::EntityCheck::Kind::AtLeastOneOf;
  any_limit.fields = {"second", "minute", "hour", "day", "month", "year"};
  any_limit.then_err =
      "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', "
      "'config.day', 'config.month', 'config.year'";
  schema::EntityCheck ordering;
  ordering.fields = {"second", "minute", "hour", "day", "month", "year"};
  ordering.custom = check_limits;
  std::vector<Field> fields;
  for (const auto& p : kPeriods) fields.push_back(Field(p.name, Type::Number).check(positive));
  std::vector<Field> rest = {
      Field("limit_by", Type::String).def("consumer").choices({"consumer", "credential", "ip", "service", "header",
                                                                "path"}),
      Field("header_name", Type::String).check(header_name_check),
      Field("path", Type::String).check([](const config::Value& v) -> std::optional<std::string> {
        if (v.get_ref<const std::string&>()[0] != '/') return "should start with: /";
        return std::nullopt;
      }),
      // Only the node-local policy exists here; redis and cluster are refused.
      Field("policy", Type::String).def("local").choices({"local", "cluster", "redis"})
          .check([](const config::Value& v) -> std::optional<std::string> {
            if (v.get_ref<const std::string&>() == "local") return std::nullopt;
            return "policy '" + v.get<std::string>() + "' is not supported yet";
          }),
      Field("fault_tolerant", Type::Boolean).req().def(true),
      // Kong's redis settings load (decK writes them with defaults); they
      // matter only with policy redis, refused above.
      Field("redis", Type::Record).with({
          Field("host", Type::String), Field("port", Type::Integer).def(6379).range(0, 65535),
          Field("timeout", Type::Integer).def(2000).range(0, 2147483646), Field("username", Type::String),
          Field("password", Type::String), Field("database", Type::Integer).def(0),
          Field("ssl", Type::Boolean).def(false), Field("ssl_verify", Type::Boolean).def(false),
          Field("server_name", Type::String)}),
      Field("hide_client_headers", Type::Boolean).req().def(false),
      Field("error_code", Type::Number).def(429).range(400, 599),
      Field("error_message", Type::String).def("API rate limit exceeded"),
      Field("sync_rate", Type::Number).req().def(-1),
  };
  fields.insert(fields.end(), rest.begin(), rest.end());
  // Kong's deprecated flat spellings of the redis settings.
  for (const char* old : {"redis_host", "redis_port", "redis_password", "redis_username", "redis_ssl",
                          "redis_ssl_verify", "redis_server_name", "redis_timeout", "redis_database"}) {
    fields.push_back(Field(old, Type::Json));
  }
  Field config = config_record(fields);
  config.record_checks = {any_limit, ordering, when("limit_by", "header", "header_name"),
                          when("limit_by", "path", "path")};
  return {"rate-limiting", 910, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<RateLimiting>(c, ctx);
          }};
}

}  // namespace wg::plugins

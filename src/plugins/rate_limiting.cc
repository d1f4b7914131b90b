// rate-limiting (PRIORITY 910): counts requests per identifier in fixed
// UTC calendar windows (second .. year) and answers 429 past a limit.
// Kong's headers tell the client its quota. Policy "local" counts in this
// node (shared::WindowCounters, seen by all workers); policy "redis" counts
// in Redis under Kong's keys, so gateways sharing a Redis share the counts:
// the request pauses while the worker's Redis connection answers
// (plugins/redis_client.h), the worker goes on with other requests.
#include <algorithm>
#include <optional>
#include <unordered_map>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>

#include "plugins/bundled.h"
#include "config/snapshot.h"
#include "plugins/log_senders.h"
#include "plugins/redis_client.h"
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

// A number as Kong's tostring prints it, into `buf` (no allocation).
std::string_view number_view(double d, char (&buf)[32]) {
  // A whole number that is not negative (every count and reset): its
  // digits from the end of buf, without a floor() call.
  if (d >= 0 && d < 1e15 && static_cast<double>(static_cast<uint64_t>(d)) == d) {
    uint64_t v = static_cast<uint64_t>(d);
    char* p = buf + sizeof buf;
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return {p, static_cast<size_t>(buf + sizeof buf - p)};
  }
  if (d > -1e15 && d < 1e15 && static_cast<double>(static_cast<long long>(d)) == d) {
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(d));
    return {buf, static_cast<size_t>(end - buf)};
  }
  int n = std::snprintf(buf, sizeof buf, "%.14g", d);
  return {buf, static_cast<size_t>(n)};
}

// Header names, built once: X-RateLimit-Limit-<Period>, -Remaining-<Period>.
struct Names {
  std::string limit[std::size(kPeriods)], remaining[std::size(kPeriods)];
  Names() {
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      limit[p] = std::string("X-RateLimit-Limit-") + kPeriods[p].header;
      remaining[p] = std::string("X-RateLimit-Remaining-") + kPeriods[p].header;
    }
  }
};
const Names& names() {
  static const Names n;
  return n;
}

// What the client is told of its quota: computed in access, written as
// headers in header_filter (or on the 429). Kept in the handler's slot and
// reused by the session's next request, so counting allocates nothing.
struct Quota {
  double shown[std::size(kPeriods)] = {};  // remaining after this request, per configured period
  int chosen = -1;                         // the period RateLimit-* describe
  int64_t reset = 0;
  bool refused = false;
  bool active = false;  // this request's quota is set
};

// Kong's sync_rate > 0 with policy redis, per worker and Redis server: the
// count Redis gave for each counter key and what this worker admitted
// since. Requests are decided on it without asking Redis; a timer sends
// the deltas every sync_rate seconds and forgets everything, so the next
// request of each key reads Redis again (as Kong clears its tables).
struct SyncedCount {
  int64_t usage = 0;       // Redis' count, with the request that read it
  int64_t delta = 0;       // admitted here since, not yet in Redis
  int64_t expires_at = 0;  // the end of its window (s since the epoch)
};
struct SyncTable {
  std::unordered_map<std::string, SyncedCount> counts;
  bool scheduled = false;
};
thread_local std::unordered_map<std::string, SyncTable> t_synced;  // by RedisServer::key

// Adds ARGV[1] (maybe negative) to KEYS[1]; a new key expires at ARGV[2].
constexpr const char* kSyncScript =
    "local new = redis.call('EXISTS', KEYS[1]) == 0 "
    "redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "if new then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end "
    "return 0";

void sync_to_redis(const RedisServer& server) {
  RedisClients* clients = RedisClients::current();
  SyncTable& t = t_synced[server.key];
  t.scheduled = false;
  std::string wire;
  size_t count = 0;
  for (const auto& [key, c] : t.counts) {
    if (c.delta == 0) continue;
    redis_command(wire, {"EVAL", kSyncScript, "1", key, std::to_string(c.delta), std::to_string(c.expires_at)});
    ++count;
  }
  t.counts.clear();
  if (count == 0 || clients == nullptr) return;
  clients->call(server, wire, count, [](const std::string* error, std::vector<RedisReply>& replies) {
    std::string why = error != nullptr ? *error : std::string();
    for (const auto& r : replies) {
      if (r.type == RedisReply::Type::Error) why = r.text;
    }
    if (!why.empty()) log_sender_error("rate-limiting", "failed to sync counters to Redis: " + why);
  });
}

// Whether the response already has any header the plugin sets (then they
// are replaced, else simply added: one pass instead of one per header).
bool has_quota_headers(const http::HeaderMap& h) {
  // A deferred response head too (read in header_filter only).
  return h.any_field([](const http::Header& e) {
    std::string_view n = e.name;
    char c = n.empty() ? 0 : static_cast<char>(n[0] | 0x20);
    if (c != 'r' && c != 'x') return false;  // most names: one compare
    return (n.size() > 10 && http::iequals(n.substr(0, 10), "ratelimit-")) ||
           (n.size() > 12 && http::iequals(n.substr(0, 12), "x-ratelimit-")) || http::iequals(n, "retry-after");
  });
}

// What a limit counts by (Kong's limit_by), compared per request.
enum class By : uint8_t { Consumer, Credential, Ip, Service, Header, Path };
By limit_by_kind(std::string_view s) {
  if (s == "credential") return By::Credential;
  if (s == "ip") return By::Ip;
  if (s == "service") return By::Service;
  if (s == "header") return By::Header;
  if (s == "path") return By::Path;
  return By::Consumer;  // the default
}

std::string_view period_name(size_t p) {
  static constexpr std::string_view kNames[] = {"second", "minute", "hour", "day", "month", "year"};
  return kNames[p];
}

class RateLimiting : public Plugin {
 public:
  RateLimiting(const config::Value& c, const BuildContext& ctx)
      : Plugin("rate-limiting", 910,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter)),
        limit_by_(str_or_empty(c, "limit_by")),
        header_name_(str_or_empty(c, "header_name")),
        path_(str_or_empty(c, "path")),
        by_(limit_by_kind(limit_by_)),
        hide_(c.value("hide_client_headers", false)),
        error_code_(static_cast<int>(c.value("error_code", 429.0))),
        error_message_(str_or_empty(c, "error_message")),
        fault_tolerant_(c.value("fault_tolerant", true)),
        redis_(str_or_empty(c, "policy") == "redis"),
        sync_ms_(c.value("sync_rate", -1.0) > 0 ? static_cast<uint64_t>(c.value("sync_rate", -1.0) * 1000) : 0) {
    // Kong keys counters by the instance's route and service; a hash of
    // them keeps the key short (it is hashed on every request).
    const std::string scope = scope_ids(ctx);
    prefix_ = hashed_scope_prefix("rl", scope);
    if (redis_) {
      server_ = redis_server(c);
      redis_prefix_ = "ratelimit:" + scope + ":";
    }
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      auto it = c.find(kPeriods[p].name);
      limits_[p] = it != c.end() && it->is_number() ? it->get<double>() : -1;
      if (limits_[p] < 0) continue;
      limit_text_[p] = number_text(limits_[p]);
      limit_line_[p] = names().limit[p] + ": " + limit_text_[p] + "\r\n";
      ratelimit_limit_line_[p] = "RateLimit-Limit: " + limit_text_[p] + "\r\n";
    }
  }

  // Counting by consumer, credential, service or client address reads no
  // request header: only the response head gets the quota headers, and
  // only in header_filter (a deferred head: copied in only when the
  // upstream sent quota headers of its own, which are replaced).
  uint32_t heads() const override {
    const bool reads_request = by_ == By::Header || by_ == By::Path || !all_protocols();
    return pipeline::phase_reads_bit(pipeline::Direction::Response) |
           (reads_request ? pipeline::head_bit(pipeline::Direction::Request) : 0);
  }

  // The quota object stays with the slot for the session's next request
  // (access resets it).
  void detach(Exchange&, Slot& s) const override {
    if (s.state) static_cast<Quota*>(s.state.get())->active = false;
  }
  bool keeps_state() const override { return true; }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (!s.state) s.state = std::make_shared<Quota>();
    Quota& q = *static_cast<Quota*>(s.state.get());
    q = Quota{};
    if (redis_) return ask_redis(x, s, now);
    auto& counters = shared::WindowCounters::instance();
    thread_local std::string key;
    key.assign(prefix_);
    append_identifier(x, key);
    key.push_back(':');
    const size_t base = key.size();
    // Count first (one lock per period); a refused request takes its counts
    // back, so, as Kong, only what is let through is counted.
    uint64_t after[std::size(kPeriods)] = {};
    int stop = -1;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      int64_t start = period_start(p, now);
      key.resize(base);
      key.append(period_name(p));
      after[p] = counters.add(key, 1, start + kPeriods[p].length_s, now);
      if (static_cast<double>(after[p]) > limits_[p]) stop = static_cast<int>(p);
    }
    if (stop >= 0) {
      for (size_t p = 0; p < std::size(kPeriods); ++p) {
        if (limits_[p] < 0) continue;
        int64_t start = period_start(p, now);
        key.resize(base);
        key.append(period_name(p));
        counters.take_back(key, 1, start + kPeriods[p].length_s, now);
      }
    }
    return decide(x, q, after, stop, now);
  }

  // The verdict on counts taken: 429 past a limit, else headers to add.
  Verdict decide(Exchange& x, Quota& q, const uint64_t* after, int stop, int64_t now) const {
    fill_quota(q, after, stop, now);
    if (stop >= 0) {
      http::HeaderList headers;
      if (!hide_) {
        write_headers(q, [&](std::string_view n, std::string_view v, std::string_view) { headers.emplace_back(n, v); });
      }
      q.active = false;  // the 429 carries them; header_filter adds nothing
      return exit_error(x, error_code_, error_message_, std::move(headers));
    }
    q.active = !hide_;
    return Verdict::Continue;
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (!s.state) return Verdict::Continue;
    const Quota& q = *static_cast<const Quota*>(s.state.get());
    if (!q.active) return Verdict::Continue;
    http::HeaderMap& h = x.response_headers;
    if (has_quota_headers(h)) {
      write_headers(q, [&](std::string_view n, std::string_view v, std::string_view) { h.replace(n, v); });
    } else {
      // Added as wire lines, the limits' without a copy (built with the
      // config, which outlives the request). None of the names is one the
      // session treats specially.
      write_headers(q, [&](std::string_view n, std::string_view v, std::string_view line) {
        if (line.empty()) {
          h.add_line(n, v, http::HeaderId::Other);
        } else {
          h.push_line(line, n.size(), http::HeaderId::Other);
        }
      });
    }
    return Verdict::Continue;
  }

 private:
  // Policy redis, as Kong's with sync_rate -1: one script per configured
  // period adds 1 to its counter (setting the expiry on the first count)
  // and returns the new count. Sent together on the worker's connection;
  // the request waits for the answer. Kong counts refused requests too.
  Verdict ask_redis(Exchange& x, Slot& s, int64_t now) const {
    RedisClients* clients = RedisClients::current();
    if (clients == nullptr) return Verdict::Continue;
    std::string id;
    append_identifier(x, id);
    if (sync_ms_ > 0) {
      if (auto v = decide_synced(x, *static_cast<Quota*>(s.state.get()), id, now)) return *v;
    }
    thread_local std::string wire, key;
    wire.clear();
    size_t count = 0;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      redis_key(key, id, p, now);
      redis_command(wire, {"EVAL", kRedisCountScript, "1", key, "1", std::to_string(kPeriods[p].length_s)});
      ++count;
    }
    std::shared_ptr<Quota> q = std::static_pointer_cast<Quota>(s.state);
    pipeline::ResumeHandle handle(x);
    Exchange* xp = &x;
    clients->call(server_, wire, count,
                  [this, q, handle, xp, now, id = std::move(id)](const std::string* error,
                                                                  std::vector<RedisReply>& replies) {
                    if (!handle.current()) return;  // the request ended meanwhile
                    redis_answer(*xp, *q, error, replies, now, id);
                    if (xp->local_reply) {
                      xp->wake();
                    } else {
                      handle.resume(pipeline::Direction::Request);
                    }
                  });
    return Verdict::Pause;
  }

  // Kong's period dates are in milliseconds.
  void redis_key(std::string& key, const std::string& id, size_t p, int64_t now) const {
    key.assign(redis_prefix_).append(id).append(1, ':');
    key.append(std::to_string(period_start(p, now) * 1000)).append(1, ':').append(kPeriods[p].name);
  }

  // sync_rate > 0: decides on this worker's counts when it has them all.
  std::optional<Verdict> decide_synced(Exchange& x, Quota& q, const std::string& id, int64_t now) const {
    SyncTable& t = t_synced[server_.key];
    thread_local std::string key;
    SyncedCount* found[std::size(kPeriods)] = {};
    uint64_t after[std::size(kPeriods)] = {};
    int stop = -1;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      redis_key(key, id, p, now);
      auto it = t.counts.find(key);
      if (it == t.counts.end() || it->second.expires_at <= now) return std::nullopt;  // ask Redis
      found[p] = &it->second;
      after[p] = static_cast<uint64_t>(std::max<int64_t>(it->second.usage + it->second.delta + 1, 1));
      if (static_cast<double>(after[p]) > limits_[p]) stop = static_cast<int>(p);
    }
    if (stop < 0) {
      for (auto* c : found) {
        if (c != nullptr) ++c->delta;
      }
      schedule_sync(t);
    }
    return decide(x, q, after, stop, now);
  }

  // sync_rate > 0: what Redis answered becomes this worker's count, this
  // request included (Redis counted it). A refused one is taken back at the
  // next sync (delta -1), as Kong's. Kong's own view leaves the request that
  // read Redis out until the sync (one more request can pass); ours counts it.
  void remember(const std::string& id, const uint64_t* after, int stop, int64_t now) const {
    SyncTable& t = t_synced[server_.key];
    std::string key;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      redis_key(key, id, p, now);
      t.counts[key] = SyncedCount{static_cast<int64_t>(after[p]), stop < 0 ? 0 : -1,
                                  period_start(p, now) + kPeriods[p].length_s};
    }
    if (stop < 0) schedule_sync(t);
  }

  void schedule_sync(SyncTable& t) const {
    RedisClients* clients = RedisClients::current();
    if (t.scheduled || clients == nullptr) return;
    t.scheduled = true;
    clients->at(clients->now_ms() + sync_ms_, [server = server_] { sync_to_redis(server); });
  }

  void redis_answer(Exchange& x, Quota& q, const std::string* error, const std::vector<RedisReply>& replies,
                    int64_t now, const std::string& id) const {
    uint64_t after[std::size(kPeriods)] = {};
    int stop = -1;
    size_t i = 0;
    std::string why = error != nullptr ? *error : std::string();
    for (size_t p = 0; p < std::size(kPeriods) && why.empty(); ++p) {
      if (limits_[p] < 0) continue;
      const RedisReply& r = replies[i++];
      if (r.type != RedisReply::Type::Integer) {
        why = r.type == RedisReply::Type::Error ? r.text : "unexpected reply";
        break;
      }
      after[p] = static_cast<uint64_t>(std::max<int64_t>(r.integer, 1));
      if (static_cast<double>(after[p]) > limits_[p]) stop = static_cast<int>(p);
    }
    if (!why.empty()) {
      // Kong: fault tolerant, the request goes on without the headers;
      // else it fails with 500.
      log_sender_error("rate-limiting", "failed to get usage: " + why);
      if (!fault_tolerant_) exit_json(x, 500, "An unexpected error occurred");
      return;
    }
    if (sync_ms_ > 0) remember(id, after, stop, now);
    decide(x, q, after, stop, now);
  }

  // Kong's get_identifier: what the limit counts by, the client address
  // when that is missing.
  void append_identifier(const Exchange& x, std::string& out) const {
    if (by_ == By::Consumer) {
      if (!x.consumer_id.empty()) return void(out.append(x.consumer_id));
      if (!x.credential_id.empty()) return void(out.append(x.credential_id));
    } else if (by_ == By::Credential) {
      if (!x.credential_id.empty()) return void(out.append(x.credential_id));
    } else if (by_ == By::Service) {
      if (x.service != nullptr) return void(out.append(x.service->cfg.id));
    } else if (by_ == By::Header) {
      if (x.request_headers.find(header_name_) != nullptr) return void(out.append(request_header(x, header_name_)));
    } else if (by_ == By::Path) {
      std::string_view p = request_header(x, ":path");
      p = p.substr(0, p.find('?'));
      if (p == path_) return void(out.append(path_));
    }
    out.append(x.client_ip);
  }

  // Remaining per period, and which one RateLimit-* describe: the least
  // left, the longer window on a tie.
  void fill_quota(Quota& q, const uint64_t* after, int stop, int64_t now) const {
    q.refused = stop >= 0;
    double least = 0;
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      // `after` counts this request; a refused request shows the periods
      // that did not refuse it as they were before it.
      double before = static_cast<double>(after[p]) - 1;
      double shown = limits_[p] - before - (stop < 0 || stop == static_cast<int>(p) ? 1 : 0);
      if (shown < 0) shown = 0;
      q.shown[p] = shown;
      if (q.chosen < 0 || shown <= least) {
        q.chosen = static_cast<int>(p);
        least = shown;
      }
    }
    if (q.chosen >= 0) {
      size_t c = static_cast<size_t>(q.chosen);
      q.reset = std::max<int64_t>(1, kPeriods[c].length_s - (now - period_start(c, now)));
    }
  }

  // emit(name, value, line): line is the header's wire line when it is a
  // constant of the config (the limits), else empty.
  template <typename Emit>
  void write_headers(const Quota& q, Emit emit) const {
    const Names& n = names();
    char buf[32], chosen_buf[32];
    std::string_view chosen_remaining;  // the chosen period's, printed once
    for (size_t p = 0; p < std::size(kPeriods); ++p) {
      if (limits_[p] < 0) continue;
      emit(n.limit[p], limit_text_[p], limit_line_[p]);
      const bool chosen = static_cast<int>(p) == q.chosen;
      std::string_view remaining = number_view(q.shown[p], chosen ? chosen_buf : buf);
      if (chosen) chosen_remaining = remaining;
      emit(n.remaining[p], remaining, std::string_view());
    }
    if (q.chosen < 0) return;
    emit("RateLimit-Limit", limit_text_[q.chosen], ratelimit_limit_line_[q.chosen]);
    emit("RateLimit-Remaining", chosen_remaining, std::string_view());
    emit("RateLimit-Reset", number_view(static_cast<double>(q.reset), buf), std::string_view());
    if (q.refused) emit("Retry-After", number_view(static_cast<double>(q.reset), buf), std::string_view());
  }

  double limits_[std::size(kPeriods)];
  std::string limit_text_[std::size(kPeriods)];
  // "X-RateLimit-Limit-<Period>: <limit>\r\n" and "RateLimit-Limit: <limit>\r\n".
  std::string limit_line_[std::size(kPeriods)], ratelimit_limit_line_[std::size(kPeriods)];
  std::string limit_by_, header_name_, path_;
  By by_;  // limit_by_, told apart once
  bool hide_;
  int error_code_;
  std::string error_message_;
  std::string prefix_;
  bool fault_tolerant_;
  bool redis_;
  RedisServer server_;
  std::string redis_prefix_;  // ratelimit:<route_id>:<service_id>:
  uint64_t sync_ms_;          // sync_rate > 0: counts are synced with Redis this often
};

// Kong: a longer period may not allow less than a shorter one.
void check_limits(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  check_window_order(c, "The", out);
  std::string policy = str_or_empty(c, "policy");
  double sync_rate = c.value("sync_rate", -1.0);
  if (policy != "redis" && sync_rate != -1.0) {
    out.push_back({"", "sync_rate can only be used with the redis policy"});
  } else if (policy == "redis" && sync_rate != -1.0 && sync_rate < 0.02) {
    out.push_back({"", "sync_rate must be greater than 0.02, or -1 to disable"});
  }
  check_redis_config(c, out);
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

int64_t window_start(size_t window, int64_t now_s) { return period_start(window, now_s); }

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
  for (const auto& p : kPeriods) fields.push_back(Field(p.name, Type::Number).check(positive_number));
  std::vector<Field> rest = {
      Field("limit_by", Type::String).def("consumer").choices({"consumer", "credential", "ip", "service", "header",
                                                                "path"}),
      typedefs::header_name("header_name"),
      Field("path", Type::String).check([](const config::Value& v) -> std::optional<std::string> {
        if (v.get_ref<const std::string&>()[0] != '/') return "should start with: /";
        return std::nullopt;
      }),
      // cluster keeps counters in Kong's database, which we do not have.
      Field("policy", Type::String).def("local").choices({"local", "cluster", "redis"})
          .check([](const config::Value& v) -> std::optional<std::string> {
            if (v.get_ref<const std::string&>() != "cluster") return std::nullopt;
            return "policy 'cluster' is not supported: it needs a database (use 'local' or 'redis')";
          }),
      Field("fault_tolerant", Type::Boolean).req().def(true),
      redis_record(),
      Field("hide_client_headers", Type::Boolean).req().def(false),
      Field("error_code", Type::Number).def(429).range(400, 599),
      Field("error_message", Type::String).def("API rate limit exceeded"),
      Field("sync_rate", Type::Number).req().def(-1),
  };
  fields.insert(fields.end(), rest.begin(), rest.end());
  add_legacy_redis_fields(fields);
  Field config = config_record(fields);
  config.record_checks = {any_limit, ordering, when("limit_by", "header", "header_name"),
                          when("limit_by", "path", "path")};
  return {"rate-limiting", 910, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<RateLimiting>(c, ctx);
          }};
}

std::string number_text(double d) {
  if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.14g", d);
  return buf;
}

std::optional<std::string> positive_number(const config::Value& v) {
  if (v.get<double>() > 0) return std::nullopt;
  return "value must be greater than 0";
}

void check_window_order(const config::Value& limits, const char* article,
                        std::vector<std::pair<std::string, std::string>>& out) {
  auto limit = [&](size_t p) -> double {
    auto it = limits.find(kPeriods[p].name);
    return it != limits.end() && it->is_number() ? it->get<double>() : -1;
  };
  for (size_t lo = 0; lo < std::size(kPeriods); ++lo) {
    if (limit(lo) < 0) continue;
    for (size_t hi = lo + 1; hi < std::size(kPeriods); ++hi) {
      if (limit(hi) < 0 || limit(hi) >= limit(lo)) continue;
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)", article,
                    kPeriods[hi].name, limit(hi), kPeriods[lo].name, limit(lo));
      out.push_back({"", buf});
      return;
    }
  }
}

}  // namespace wg::plugins

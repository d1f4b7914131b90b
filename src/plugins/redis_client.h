// A small asynchronous Redis client for the plugins that keep their
// counters in Redis (rate-limiting and response-ratelimiting, policy
// "redis"). Each worker keeps one connection per Redis server (address,
// database and credentials), opened on first use on the worker's event loop
// and reused by every request of that worker. Commands are pipelined: a
// request's commands go out at once, behind those of other requests, and
// the replies come back in order (RESP is strictly ordered), so nothing
// waits for another request's answer to be sent. Nothing here blocks: a
// caller gets its replies, or an error, through a callback on a later loop
// turn. A server that does not answer within the caller's timeout fails
// every command waiting on that connection and the connection is closed
// (its later replies could no longer be matched); the next call reconnects.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/name_resolver.h"
#include "config/schema.h"
#include "config/value.h"
#include "core/event_loop.h"

namespace wg::plugins {

// Where the commands go and how to log in, fixed at config time.
struct RedisServer {
  std::string host;
  int port = 6379;
  std::string username, password;  // AUTH when password is set
  int64_t database = 0;            // SELECT when not 0
  uint32_t timeout_ms = 2000;
  std::string key;  // names the connection: every field above but the timeout
  void make_key();
};

// One reply. Arrays are read whole but only their size is kept (no caller
// needs their elements yet).
struct RedisReply {
  enum class Type : uint8_t { Status, Error, Integer, Bulk, Nil, Array };
  Type type = Type::Nil;
  int64_t integer = 0;  // Integer; the element count of an Array
  std::string text;     // Status, Error, Bulk
};

// A Lua script for EVAL with one key: adds ARGV[1] to the counter KEYS[1],
// gives a new counter an expiry of ARGV[2] seconds, returns the count.
// One round trip, atomic, on any Redis with scripting.
inline constexpr const char* kRedisCountScript =
    "local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "if n == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
    "return n";

// Appends one command in RESP (an array of bulk strings) to `out`.
void redis_command(std::string& out, std::initializer_list<std::string_view> args);

// Parses one reply at in[pos..]: 1 and pos past it when whole, 0 when more
// bytes are needed, -1 when the bytes are not RESP. `out` may be null.
int parse_redis_reply(const std::string& in, size_t& pos, RedisReply* out);

class RedisConnection;

class RedisClients {
 public:
  // error: null when every reply came (a reply may itself be an Error);
  // else why none did ("timeout", "connection refused", ...).
  using Done = std::function<void(const std::string* error, std::vector<RedisReply>& replies)>;

  RedisClients(core::EventLoop& loop, client::NameResolver& names);
  ~RedisClients();
  RedisClients(const RedisClients&) = delete;
  RedisClients& operator=(const RedisClients&) = delete;

  // The calling worker's clients (null outside a worker: `wasmgate check`).
  static RedisClients* current() { return current_; }
  void make_current() { current_ = this; }

  // Sends `commands` (redis_command's output, `count` commands) to `to`;
  // `done` gets the `count` replies.
  void call(const RedisServer& to, std::string_view commands, size_t count, Done done);

  // Runs `fn` on this worker's loop at when_ms or soon after (a batched
  // sync of counters).
  void at(uint64_t when_ms, std::function<void()> fn) { timers_.push_back({when_ms, std::move(fn)}); }
  uint64_t now_ms() const { return loop_.now_ms(); }

  // Timeouts, idle closes and due timers; returns ms until the next due
  // check (at most max_wait_ms). The worker calls it once per loop turn.
  uint64_t run(uint64_t now_ms, uint64_t max_wait_ms);

 private:
  static thread_local RedisClients* current_;
  core::EventLoop& loop_;
  client::NameResolver& names_;
  std::unordered_map<std::string, std::unique_ptr<RedisConnection>> conns_;
  std::vector<std::pair<uint64_t, std::function<void()>>> timers_;  // few: one per synced server
};

}  // namespace wg::plugins

namespace wg::plugins {

// ---- Kong's redis settings of the rate-limiting plugins (config.redis, and
// the flat redis_* fields of older files, which Kong 3.x maps onto it).

// The `redis` record, with Kong's defaults.
config::schema::Field redis_record();
// Kong's deprecated flat spellings (redis_host, redis_port, ...).
void add_legacy_redis_fields(std::vector<config::schema::Field>& fields);
// With policy redis: host, port and timeout are required (from either
// spelling); ssl is refused (we have no outbound TLS).
void check_redis_config(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out);
// The server a validated config names (the flat fields win, as in Kong).
RedisServer redis_server(const config::Value& c);

}  // namespace wg::plugins

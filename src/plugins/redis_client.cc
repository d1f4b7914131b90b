#include "plugins/redis_client.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstring>

#include "client/target.h"

namespace wg::plugins {

thread_local RedisClients* RedisClients::current_ = nullptr;

void RedisServer::make_key() {
  key = host + ":" + std::to_string(port) + ";" + std::to_string(database) + ";" + username + ";" + password;
}

void redis_command(std::string& out, std::initializer_list<std::string_view> args) {
  out.push_back('*');
  out.append(std::to_string(args.size())).append("\r\n");
  for (std::string_view a : args) {
    out.push_back('$');
    out.append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  }
}

int parse_redis_reply(const std::string& in, size_t& pos, RedisReply* out) {
  size_t eol = in.find("\r\n", pos);
  if (eol == std::string::npos) return 0;
  if (eol == pos) return -1;
  const char kind = in[pos];
  std::string_view line(in.data() + pos + 1, eol - pos - 1);
  size_t next = eol + 2;
  int64_t n = 0;
  auto number = [&]() {
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), n);
    return ec == std::errc() && p == line.data() + line.size();
  };
  switch (kind) {
    case '+':
    case '-':
      if (out) {
        out->type = kind == '+' ? RedisReply::Type::Status : RedisReply::Type::Error;
        out->text.assign(line);
      }
      pos = next;
      return 1;
    case ':':
      if (!number()) return -1;
      if (out) {
        out->type = RedisReply::Type::Integer;
        out->integer = n;
      }
      pos = next;
      return 1;
    case '$':
      if (!number()) return -1;
      if (n < 0) {
        if (out) out->type = RedisReply::Type::Nil;
        pos = next;
        return 1;
      }
      if (in.size() < next + static_cast<size_t>(n) + 2) return 0;
      if (out) {
        out->type = RedisReply::Type::Bulk;
        out->text.assign(in, next, static_cast<size_t>(n));
      }
      pos = next + static_cast<size_t>(n) + 2;
      return 1;
    case '*': {
      if (!number()) return -1;
      size_t p = next;
      for (int64_t i = 0; i < n; ++i) {
        int r = parse_redis_reply(in, p, nullptr);
        if (r <= 0) return r;
      }
      if (out) {
        out->type = n < 0 ? RedisReply::Type::Nil : RedisReply::Type::Array;
        out->integer = n;
      }
      pos = p;
      return 1;
    }
    default:
      return -1;
  }
}

// One connection to one server, on one worker's loop.
class RedisConnection final : public core::IoHandler {
 public:
  static constexpr uint64_t kIdleCloseMs = 60000;

  RedisConnection(core::EventLoop& loop, client::NameResolver& names, const RedisServer& to)
      : loop_(loop), names_(names), to_(to), alive_(std::make_shared<bool>(true)) {}
  ~RedisConnection() { close_fd(); }

  void call(std::string_view commands, size_t count, uint32_t timeout_ms, RedisClients::Done done) {
    if (fd_ < 0 && !resolving_ && error_.empty()) open();
    // Until AUTH and SELECT answered, commands wait: pipelined behind a
    // refused SELECT they would count in the wrong database.
    (set_up_ ? out_ : held_).append(commands);
    ops_.push_back(Op{count, loop_.now_ms() + timeout_ms, std::move(done), false, {}});
    last_used_ms_ = loop_.now_ms();
    if (connected_) flush();
  }

  uint64_t run(uint64_t now_ms) {
    if (!error_.empty()) {
      std::string e = std::move(error_);
      error_.clear();
      fail(e);
      return UINT64_MAX;
    }
    if (!ops_.empty()) {
      if (now_ms >= ops_.front().deadline_ms) {
        fail("timeout");
        return UINT64_MAX;
      }
      return ops_.front().deadline_ms;
    }
    if (fd_ >= 0 && now_ms >= last_used_ms_ + kIdleCloseMs) close_fd();
    return fd_ >= 0 ? last_used_ms_ + kIdleCloseMs : UINT64_MAX;
  }

  bool failing() const { return !error_.empty(); }

  void on_io(uint32_t events) override {
    if (fd_ < 0) return;
    if (events & EPOLLERR) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      fail(strerror(err ? err : ECONNRESET));
      return;
    }
    if ((events & EPOLLOUT) && !connected_) connected_ = true;
    if (connected_) flush();
    if (fd_ >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) read_input();
  }

 private:
  struct Op {
    size_t count;
    uint64_t deadline_ms;
    RedisClients::Done done;
    bool setup;  // AUTH / SELECT of a new connection: an error reply fails it
    std::vector<RedisReply> replies;
  };

  // Opens the connection; AUTH and SELECT go first, before any command.
  void open() {
    std::string setup;
    size_t n = 0;
    if (!to_.password.empty()) {
      if (to_.username.empty()) {
        redis_command(setup, {"AUTH", to_.password});
      } else {
        redis_command(setup, {"AUTH", to_.username, to_.password});
      }
      ++n;
    }
    if (to_.database != 0) {
      redis_command(setup, {"SELECT", std::to_string(to_.database)});
      ++n;
    }
    out_.assign(setup);
    out_off_ = 0;
    set_up_ = n == 0;
    if (n > 0) ops_.push_front(Op{n, loop_.now_ms() + to_.timeout_ms, nullptr, true, {}});
    std::string address;
    std::weak_ptr<bool> token = alive_;
    auto r = names_.resolve(to_.host, &address, [this, token](const std::string&, const std::string& a) {
      if (token.expired() || !resolving_) return;
      resolving_ = false;
      if (!connect(a)) return;
      if (connected_) flush();
    });
    if (r == client::NameResolver::Result::Later) {
      resolving_ = true;
    } else if (r == client::NameResolver::Result::Refused) {
      error_ = "could not resolve " + to_.host;
    } else {
      connect(address);
    }
  }

  // Connects to address bytes (4 or 16); false (and failed) when it cannot.
  bool connect(const std::string& a) {
    char text[INET6_ADDRSTRLEN] = {0};
    client::Endpoint ep;
    bool ok = false;
    if (a.size() == 4) {
      inet_ntop(AF_INET, a.data(), text, sizeof text);
      ok = client::parse_ip_port(std::string(text) + ":" + std::to_string(to_.port), &ep);
    } else if (a.size() == 16) {
      inet_ntop(AF_INET6, a.data(), text, sizeof text);
      ok = client::parse_ip_port("[" + std::string(text) + "]:" + std::to_string(to_.port), &ep);
    }
    if (!ok) return later_fail("could not resolve " + to_.host);
    fd_ = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return later_fail(strerror(errno));
    connected_ = false;
    int rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len);
    if (rc != 0 && errno != EINPROGRESS) return later_fail(strerror(errno));
    connected_ = rc == 0;
    loop_.add(fd_, this, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    return true;
  }

  // A failure found inside call(): the callers hear of it on this loop
  // turn's run(), never from inside their own call.
  bool later_fail(std::string why) {
    close_fd();
    error_ = std::move(why);
    return false;
  }

  void flush() {
    while (out_off_ < out_.size()) {
      ssize_t n = ::send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
        if (errno == EINTR) continue;
        fail(strerror(errno));
        return;
      }
      out_off_ += static_cast<size_t>(n);
    }
    out_.clear();
    out_off_ = 0;
  }

  void read_input() {
    char buf[16384];
    bool eof = false;
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      else if (errno == EINTR) continue;
      else if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
      break;
    }
    if (!take_replies()) return;
    if (eof) fail("connection closed");
  }

  // Hands whole replies to their callers; false when the connection failed.
  bool take_replies() {
    size_t pos = 0;
    while (!ops_.empty()) {
      RedisReply reply;
      int r = parse_redis_reply(in_, pos, &reply);
      if (r == 0) break;
      if (r < 0) {
        fail("not a Redis reply");
        return false;
      }
      Op& op = ops_.front();
      op.replies.push_back(std::move(reply));
      if (op.replies.size() < op.count) continue;
      Op done = std::move(ops_.front());
      ops_.pop_front();
      if (done.setup) {
        for (const auto& rep : done.replies) {
          if (rep.type == RedisReply::Type::Error) {
            fail("AUTH or SELECT refused: " + rep.text);
            return false;
          }
        }
        set_up_ = true;
        out_.append(held_);
        held_.clear();
        if (connected_) flush();
        if (fd_ < 0) return false;
        continue;
      }
      in_.erase(0, pos);  // the callback may reenter (a new request's call)
      pos = 0;
      done.done(nullptr, done.replies);
      if (fd_ < 0) return false;
    }
    in_.erase(0, pos);
    return true;
  }

  // Every waiting caller hears `why`; the connection closes (the next call
  // opens a new one).
  void fail(const std::string& why) {
    close_fd();
    std::deque<Op> ops = std::move(ops_);
    ops_.clear();
    std::string e = "Redis " + to_.host + ":" + std::to_string(to_.port) + ": " + why;
    std::vector<RedisReply> none;
    for (auto& op : ops) {
      if (op.done) op.done(&e, none);
    }
  }

  void close_fd() {
    if (fd_ >= 0) {
      loop_.remove(fd_);
      ::close(fd_);
    }
    fd_ = -1;
    connected_ = false;
    resolving_ = false;
    out_.clear();
    out_off_ = 0;
    in_.clear();
    held_.clear();
    set_up_ = true;
  }

  core::EventLoop& loop_;
  client::NameResolver& names_;
  RedisServer to_;
  std::shared_ptr<bool> alive_;
  int fd_ = -1;
  bool connected_ = false;
  bool resolving_ = false;
  std::string error_;  // a failure to report on the next run()
  std::string out_;
  size_t out_off_ = 0;
  bool set_up_ = true;  // AUTH and SELECT answered (or none needed)
  std::string held_;    // commands waiting for that
  std::string in_;
  std::deque<Op> ops_;
  uint64_t last_used_ms_ = 0;
};

RedisClients::RedisClients(core::EventLoop& loop, client::NameResolver& names) : loop_(loop), names_(names) {}
RedisClients::~RedisClients() = default;

void RedisClients::call(const RedisServer& to, std::string_view commands, size_t count, Done done) {
  auto it = conns_.find(to.key);
  if (it == conns_.end()) it = conns_.emplace(to.key, std::make_unique<RedisConnection>(loop_, names_, to)).first;
  it->second->call(commands, count, to.timeout_ms, std::move(done));
}

uint64_t RedisClients::run(uint64_t now_ms, uint64_t max_wait_ms) {
  uint64_t next = UINT64_MAX;
  if (!timers_.empty()) {
    std::vector<std::function<void()>> due;
    for (size_t i = 0; i < timers_.size();) {
      if (timers_[i].first <= now_ms) {
        due.push_back(std::move(timers_[i].second));
        timers_[i] = std::move(timers_.back());
        timers_.pop_back();
      } else {
        next = std::min(next, timers_[i].first);
        ++i;
      }
    }
    for (auto& fn : due) fn();  // may add timers and calls
    for (const auto& t : timers_) next = std::min(next, t.first);
  }
  for (auto& [key, conn] : conns_) next = std::min(next, conn->run(now_ms));
  // A callback above may have made a call that failed at once: next turn.
  for (auto& [key, conn] : conns_) {
    if (conn->failing()) return 0;
  }
  if (next == UINT64_MAX) return max_wait_ms;
  return next <= now_ms ? 0 : std::min(max_wait_ms, next - now_ms);
}

}  // namespace wg::plugins

// ---------------------------------------------------------------- config

namespace wg::plugins {

namespace schema = config::schema;
using schema::Field;
using schema::Type;

Field redis_record() {
  return Field("redis", Type::Record)
      .with({Field("host", Type::String), Field("port", Type::Integer).def(6379).range(0, 65535),
             Field("timeout", Type::Integer).def(2000).range(0, 2147483646), Field("username", Type::String),
             Field("password", Type::String), Field("database", Type::Integer).def(0),
             Field("ssl", Type::Boolean).def(false), Field("ssl_verify", Type::Boolean).def(false),
             Field("server_name", Type::String)});
}

void add_legacy_redis_fields(std::vector<Field>& fields) {
  fields.push_back(Field("redis_host", Type::String));
  fields.push_back(Field("redis_port", Type::Integer).range(0, 65535));
  fields.push_back(Field("redis_password", Type::String));
  fields.push_back(Field("redis_username", Type::String));
  fields.push_back(Field("redis_ssl", Type::Boolean));
  fields.push_back(Field("redis_ssl_verify", Type::Boolean));
  fields.push_back(Field("redis_server_name", Type::String));
  fields.push_back(Field("redis_timeout", Type::Integer).range(0, 2147483646));
  fields.push_back(Field("redis_database", Type::Integer));
}

namespace {

// config.redis.<name>, or the flat redis_<name> when set (non-null).
const config::Value* redis_setting(const config::Value& c, const char* name) {
  auto flat = c.find(std::string("redis_") + name);
  if (flat != c.end() && !flat->is_null()) return &*flat;
  auto rec = c.find("redis");
  if (rec == c.end() || !rec->is_object()) return nullptr;
  auto v = rec->find(name);
  return v != rec->end() && !v->is_null() ? &*v : nullptr;
}

}  // namespace

void check_redis_config(const config::Value& c, std::vector<std::pair<std::string, std::string>>& out) {
  auto policy = c.find("policy");
  if (policy == c.end() || !policy->is_string() || policy->get<std::string>() != "redis") return;
  for (const char* name : {"host", "port", "timeout"}) {
    if (redis_setting(c, name) == nullptr) out.push_back({std::string("redis.") + name, "required field missing"});
  }
  const config::Value* ssl = redis_setting(c, "ssl");
  if (ssl != nullptr && ssl->is_boolean() && ssl->get<bool>()) {
    out.push_back({"redis.ssl", "TLS to Redis is not supported yet"});
  }
}

RedisServer redis_server(const config::Value& c) {
  RedisServer s;
  auto text = [&](const char* name) {
    const config::Value* v = redis_setting(c, name);
    return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
  };
  auto number = [&](const char* name, int64_t dflt) {
    const config::Value* v = redis_setting(c, name);
    return v != nullptr && v->is_number() ? v->get<int64_t>() : dflt;
  };
  s.host = text("host");
  s.port = static_cast<int>(number("port", 6379));
  s.username = text("username");
  s.password = text("password");
  s.database = number("database", 0);
  s.timeout_ms = static_cast<uint32_t>(number("timeout", 2000));
  s.make_key();
  return s;
}

}  // namespace wg::plugins

#include "lua/cosocket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "client/name_resolver.h"
#include "core/event_loop.h"
#include "lua/pdk.h"
#include "lua/worker_lua.h"

namespace wg::lua {
namespace {

constexpr const char* kSocketMeta = "wasmgate.cosocket";
constexpr size_t kReadChunk = 16384;
// An idle connection's default lifetime in the pool, and the pool's size
// per host:port (lua_socket_keepalive_timeout, lua_socket_pool_size).
constexpr uint64_t kDefaultIdleMs = 60000;
constexpr size_t kDefaultPoolSize = 30;

// One socket, heap-allocated (its address is the loop's handler) and owned
// by a userdata holding its pointer.
struct Socket final : core::IoHandler {
  int fd = -1;
  core::EventLoop* loop = nullptr;
  uint64_t wait_id = 0;  // the coroutine waiting on it, woken by any event
  std::string pool_key;  // where setkeepalive puts it
  std::string in;        // bytes read, not yet received by Lua
  size_t in_off = 0;
  std::string out;       // bytes sent by Lua, not yet written
  size_t out_off = 0;
  bool eof = false;
  int reused = 0;
  SSL* ssl = nullptr;  // after sslhandshake: reads and writes go through it
  void on_io(uint32_t) override {
    if (wait_id == 0) return;
    if (WorkerLua* w = WorkerLua::current()) w->wake(wait_id);
    wait_id = 0;
  }
  void close() {
    if (fd < 0) return;
    if (loop != nullptr) loop->remove(fd);
    if (ssl != nullptr) {
      SSL_free(ssl);
      ssl = nullptr;
    }
    ::close(fd);
    fd = -1;
    in.clear();
    in_off = 0;
    out.clear();
    out_off = 0;
    eof = false;
  }
  std::string_view buffered() const { return std::string_view(in).substr(in_off); }
  void consume(size_t n) {
    in_off += n;
    if (in_off == in.size()) {
      in.clear();
      in_off = 0;
    }
  }
};

struct Idle {
  int fd;
  uint64_t expires_ms;
  int reused;
};
thread_local std::unordered_map<std::string, std::vector<Idle>> idle_pool;

Socket*& slot(lua_State* L) { return *static_cast<Socket**>(luaL_checkudata(L, 1, kSocketMeta)); }

Socket& sock(lua_State* L) {
  Socket* s = slot(L);
  if (s == nullptr) luaL_error(L, "closed socket");
  return *s;
}

int fail(lua_State* L, const char* why) {
  lua_pushnil(L);
  lua_pushstring(L, why);
  return 2;
}

int again(lua_State* L) { return fail(L, "again"); }

int errno_fail(lua_State* L, const char* what) {
  std::string why = std::string(what) + ": " + strerror(errno);
  lua_pushnil(L);
  lua_pushlstring(L, why.data(), why.size());
  return 2;
}

// A pooled connection the peer has not closed (nor written to) meanwhile.
bool still_good(int fd) {
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int take_idle(const std::string& key, int* reused) {
  auto it = idle_pool.find(key);
  if (it == idle_pool.end()) return -1;
  const uint64_t now = monotonic_ms();
  while (!it->second.empty()) {
    Idle i = it->second.back();
    it->second.pop_back();
    if (i.expires_ms > now && still_good(i.fd)) {
      *reused = i.reused + 1;
      return i.fd;
    }
    ::close(i.fd);
  }
  return -1;
}

int l_tcp(lua_State* L) {
  check_can_wait(L);
  WorkerLua* w = WorkerLua::current();
  if (w == nullptr || w->loop() == nullptr) return luaL_error(L, "cosockets are only available in a worker");
  auto** ud = static_cast<Socket**>(lua_newuserdata(L, sizeof(Socket*)));
  *ud = nullptr;
  luaL_getmetatable(L, kSocketMeta);
  lua_setmetatable(L, -2);
  *ud = new Socket();
  (*ud)->loop = w->loop();
  return 1;
}

int l_gc(lua_State* L) {
  Socket*& s = slot(L);
  if (s != nullptr) {
    s->close();
    delete s;
    s = nullptr;
  }
  return 0;
}

bool watch(Socket& s) {
  return s.loop->add(s.fd, &s, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
}

// wg.sock_connect(sock, address, port, pool_key) -> 1[, "reused"] | nil, "again" | nil, err.
// address: 4 or 16 address bytes, or "unix:/path" (port ignored).
int l_connect(lua_State* L) {
  Socket& s = sock(L);
  size_t alen = 0;
  const char* address = luaL_checklstring(L, 2, &alen);
  int port = static_cast<int>(luaL_checkinteger(L, 3));
  s.close();
  s.pool_key = luaL_checkstring(L, 4);
  s.reused = 0;
  int reused = 0;
  int fd = take_idle(s.pool_key, &reused);
  if (fd >= 0) {
    s.fd = fd;
    s.reused = reused;
    if (!watch(s)) return errno_fail(L, "epoll");
    lua_pushinteger(L, 1);
    return 1;
  }
  sockaddr_storage sa{};
  socklen_t len = 0;
  std::string_view a(address, alen);
  if (a.substr(0, 5) == "unix:") {
    auto* un = reinterpret_cast<sockaddr_un*>(&sa);
    std::string_view path = a.substr(5);
    if (path.size() >= sizeof un->sun_path) return fail(L, "unix socket path too long");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    len = sizeof(sockaddr_un);
  } else if (alen == 4) {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&sa);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&in4->sin_addr, address, 4);
    len = sizeof(sockaddr_in);
  } else if (alen == 16) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&in6->sin6_addr, address, 16);
    len = sizeof(sockaddr_in6);
  } else {
    return fail(L, "bad address");
  }
  s.fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return errno_fail(L, "socket");
  if (sa.ss_family != AF_UNIX) {
    int one = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (!watch(s)) {
    ::close(s.fd);
    s.fd = -1;
    return errno_fail(L, "epoll");
  }
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&sa), len) == 0) {
    lua_pushinteger(L, 1);
    return 1;
  }
  if (errno == EINPROGRESS) return again(L);
  int e = errno;
  s.close();
  errno = e;
  return errno_fail(L, "connect");
}

// wg.sock_connected(sock) -> 1 | nil, "again" | nil, err (after connect said again).
int l_connected(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) {
    // Connected once the socket is writable; before that, SO_ERROR is 0 too.
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (getpeername(s.fd, reinterpret_cast<sockaddr*>(&peer), &plen) == 0) {
      lua_pushinteger(L, 1);
      return 1;
    }
    if (errno == ENOTCONN) return again(L);
    err = errno;
  }
  s.close();
  errno = err;
  return errno_fail(L, "connect");
}

// Writes what is pending; true when all of it went out.
bool flush(Socket& s, int* error) {
  while (s.out_off < s.out.size()) {
    if (s.ssl != nullptr) {
      ERR_clear_error();
      int n = SSL_write(s.ssl, s.out.data() + s.out_off, static_cast<int>(s.out.size() - s.out_off));
      if (n > 0) {
        s.out_off += static_cast<size_t>(n);
        continue;
      }
      int e = SSL_get_error(s.ssl, n);
      *error = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : EPIPE;
      return false;
    }
    ssize_t n = ::send(s.fd, s.out.data() + s.out_off, s.out.size() - s.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      s.out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    *error = (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? 0 : (n < 0 ? errno : EPIPE);
    return false;
  }
  s.out.clear();
  s.out_off = 0;
  *error = 0;
  return true;
}

// wg.sock_send(sock, data or nil) -> bytes | nil, "again" | nil, err.
// data is added to what is pending; nil only flushes.
int l_send(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  if (!lua_isnil(L, 2)) {
    size_t n = 0;
    const char* data = luaL_checklstring(L, 2, &n);
    s.out.append(data, n);
  }
  size_t total = s.out.size();
  int error = 0;
  if (flush(s, &error)) {
    lua_pushinteger(L, static_cast<lua_Integer>(total));
    return 1;
  }
  if (error == 0) return again(L);
  s.close();
  return fail(L, error == EPIPE || error == ECONNRESET ? "closed" : strerror(error));
}

// Reads what the socket has into the buffer; false on an error (closed).
bool fill(Socket& s, int* error) {
  *error = 0;
  char buf[kReadChunk];
  while (s.ssl != nullptr) {
    ERR_clear_error();
    int n = SSL_read(s.ssl, buf, sizeof buf);
    if (n > 0) {
      s.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(s.ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && n == 0)) {
      s.eof = true;
      return true;
    }
    *error = ECONNRESET;
    return false;
  }
  for (;;) {
    ssize_t n = ::recv(s.fd, buf, sizeof buf, 0);
    if (n > 0) {
      // On until EAGAIN or the end, even after a short read: the socket is
      // edge-triggered, and a FIN that came with the last bytes raises no
      // further event (receive("*a") would then wait for its timeout).
      s.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      s.eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    *error = errno;
    return false;
  }
}

// wg.sock_receive(sock, mode, n, give_up) -> data | nil, "again" | nil, err, partial.
// mode: "l" a line (without \r\n), "a" all until closed, "n" n bytes,
// "u" up to and without the pattern n ("U": with it), "s"
// whatever is there, up to n bytes (receiveany). give_up true: the
// wait timed out, hand back what is buffered as the partial.
int l_receive(lua_State* L) {
  Socket& s = sock(L);
  const char mode = luaL_checkstring(L, 2)[0];
  size_t want = 0;
  std::string_view pattern;
  if (mode == 'n' || mode == 's') want = static_cast<size_t>(luaL_checkinteger(L, 3));
  if (mode == 'u' || mode == 'U') {
    size_t n = 0;
    const char* p = luaL_checklstring(L, 3, &n);
    pattern = std::string_view(p, n);
  }
  const bool give_up = lua_toboolean(L, 4) != 0;
  auto give = [&](size_t n, size_t skip) {
    lua_pushlstring(L, s.buffered().data(), n);
    s.consume(n + skip);
    return 1;
  };
  auto partial = [&](const char* why) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    lua_pushlstring(L, s.buffered().data(), s.buffered().size());
    s.consume(s.buffered().size());
    return 3;
  };
  if (s.fd < 0) return partial("closed");
  if (give_up) return partial("timeout");
  int error = 0;
  for (int pass = 0; pass < 2; ++pass) {
    std::string_view b = s.buffered();
    switch (mode) {
      case 'l': {
        size_t nl = b.find('\n');
        if (nl != std::string_view::npos) {
          size_t end = nl > 0 && b[nl - 1] == '\r' ? nl - 1 : nl;
          lua_pushlstring(L, b.data(), end);
          s.consume(nl + 1);
          return 1;
        }
        break;
      }
      case 'n':
        if (b.size() >= want) return give(want, 0);
        break;
      case 's':
        if (!b.empty()) return give(std::min(want, b.size()), 0);
        break;
      case 'u':
      case 'U': {
        size_t at = b.find(pattern);
        if (at != std::string_view::npos) return mode == 'U' ? give(at + pattern.size(), 0) : give(at, pattern.size());
        break;
      }
      default:  // 'a'
        if (s.eof) return give(b.size(), 0);
        break;
    }
    if (pass == 1) break;
    if (s.eof) break;
    if (!fill(s, &error)) {
      s.close();
      lua_pushnil(L);
      lua_pushstring(L, error == ECONNRESET ? "connection reset by peer" : strerror(error));
      lua_pushliteral(L, "");
      return 3;
    }
  }
  if (s.eof) {
    if (mode == 'a') return give(s.buffered().size(), 0);
    int n = partial("closed");
    s.close();
    return n;
  }
  return again(L);
}

// wg.sock_wait(sock, timeout_ms) -> true (ready) | false (timed out): yields.
int l_wait(lua_State* L) {
  Socket& s = sock(L);
  check_can_wait(L);
  WorkerLua* w = WorkerLua::current();
  if (w == nullptr) return luaL_error(L, "cosockets are only available in a worker");
  CallState& cs = call_state();
  s.wait_id = w->new_wait_id();
  cs.wait_id = s.wait_id;
  lua_Number ms = luaL_optnumber(L, 2, 0);
  cs.wait_ms = ms > 0 ? static_cast<uint64_t>(ms) : 0;
  return lua_yield(L, 0);
}

// wg.sock_keepalive(sock, timeout_ms, size) -> 1 | nil, err.
int l_keepalive(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  if (!s.buffered().empty() || s.out_off < s.out.size() || s.eof) {
    s.close();
    return fail(L, s.eof ? "closed" : "unread data in buffer");
  }
  if (s.ssl != nullptr) {  // not pooled yet: the pool keeps bare connections
    s.close();
    lua_pushinteger(L, 1);
    return 1;
  }
  lua_Number timeout = luaL_optnumber(L, 2, 0);
  size_t size = static_cast<size_t>(luaL_optinteger(L, 3, static_cast<lua_Integer>(kDefaultPoolSize)));
  std::vector<Idle>& idle = idle_pool[s.pool_key];
  s.loop->remove(s.fd);
  if (idle.size() >= std::max<size_t>(size, 1)) {
    ::close(idle.front().fd);
    idle.erase(idle.begin());
  }
  uint64_t ms = timeout > 0 ? static_cast<uint64_t>(timeout) : kDefaultIdleMs;
  idle.push_back({s.fd, monotonic_ms() + ms, s.reused});
  s.fd = -1;
  lua_pushinteger(L, 1);
  return 1;
}

int l_close(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  s.close();
  lua_pushinteger(L, 1);
  return 1;
}

int l_reused(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  lua_pushinteger(L, s.reused);
  return 1;
}

// The client context every worker's TLS cosockets share: the system's CA
// certificates (verification is per connection, as sslhandshake asks).
SSL_CTX* client_ctx() {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(c);
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return c;
  }();
  return ctx;
}

// wg.sock_handshake(sock, server_name or nil, verify) -> 1 | nil, "again" | nil, err.
// Called again after "again" until done; a failed verification answers
// OpenResty's "NN: reason".
int l_handshake(lua_State* L) {
  Socket& s = sock(L);
  if (s.fd < 0) return fail(L, "closed");
  if (s.ssl == nullptr) {
    s.ssl = SSL_new(client_ctx());
    SSL_set_fd(s.ssl, s.fd);
    const bool verify = lua_toboolean(L, 3) != 0;
    SSL_set_verify(s.ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (lua_isstring(L, 2)) {
      const char* name = lua_tostring(L, 2);
      SSL_set_tlsext_host_name(s.ssl, name);
      if (verify) SSL_set1_host(s.ssl, name);
    }
  }
  ERR_clear_error();
  int rc = SSL_connect(s.ssl);
  if (rc == 1) {
    lua_pushinteger(L, 1);
    return 1;
  }
  int e = SSL_get_error(s.ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return again(L);
  long verify = SSL_get_verify_result(s.ssl);
  std::string why;
  if (verify != X509_V_OK) {
    why = std::to_string(verify) + ": " + X509_verify_cert_error_string(verify);
  } else {
    unsigned long code = ERR_get_error();
    char buf[256] = "handshake failed";
    if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
    why = std::string("handshake failed: ") + buf;
  }
  s.close();
  lua_pushnil(L);
  lua_pushlstring(L, why.data(), why.size());
  return 2;
}

// wg.resolve(name) -> address bytes | nil, wait id (then wg.wait on it and
// wg.resolved(id)) | nil, err.
int l_resolve(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  WorkerLua* w = WorkerLua::current();
  if (w == nullptr || w->names() == nullptr) return luaL_error(L, "cosockets are only available in a worker");
  if (name == "localhost") {
    lua_pushlstring(L, "\x7f\x00\x00\x01", 4);
    return 1;
  }
  std::string address;
  const uint64_t id = w->new_wait_id();
  auto done = [w, id](const std::string&, const std::string& found) {
    w->set_resolved(id, found);
    w->wake(id);
  };
  switch (w->names()->resolve(name, &address, done)) {
    case client::NameResolver::Result::Now:
      if (address.empty()) break;
      lua_pushlstring(L, address.data(), address.size());
      return 1;
    case client::NameResolver::Result::Later:
      lua_pushnil(L);
      lua_pushnumber(L, static_cast<lua_Number>(id));
      return 2;
    case client::NameResolver::Result::Refused:
      return fail(L, "too many names being resolved");
  }
  std::string why = name + " could not be resolved";
  lua_pushnil(L);
  lua_pushlstring(L, why.data(), why.size());
  return 2;
}

// wg.resolved(id) -> address bytes | nil, err (after the wait).
int l_resolved(lua_State* L) {
  WorkerLua* w = WorkerLua::current();
  std::string address;
  if (w == nullptr || !w->take_resolved(static_cast<uint64_t>(luaL_checknumber(L, 1)), &address) ||
      address.empty()) {
    return fail(L, "could not be resolved");
  }
  lua_pushlstring(L, address.data(), address.size());
  return 1;
}

const luaL_Reg kSocketPrimitives[] = {
    {"tcp", l_tcp},
    {"sock_connect", l_connect},
    {"sock_connected", l_connected},
    {"sock_send", l_send},
    {"sock_receive", l_receive},
    {"sock_wait", l_wait},
    {"sock_keepalive", l_keepalive},
    {"sock_close", l_close},
    {"sock_reused", l_reused},
    {"sock_handshake", l_handshake},
    {"resolve", l_resolve},
    {"resolved", l_resolved},
    {nullptr, nullptr},
};

const char* context_name(const CallState& cs) {
  if (cs.x == nullptr) return "init_worker_by_lua*";
  switch (cs.phase) {
    case pipeline::Phase::HeaderFilter:
      return "header_filter_by_lua*";
    case pipeline::Phase::BodyFilter:
      return "body_filter_by_lua*";
    case pipeline::Phase::Log:
      return "log_by_lua*";
    default:
      return nullptr;
  }
}

}  // namespace

void check_can_wait(lua_State* L) {
  const CallState& cs = call_state();
  if (cs.timer) return;
  if (const char* context = context_name(cs)) luaL_error(L, "API disabled in the context of %s", context);
}

void add_cosocket_primitives(lua_State* L) {
  luaL_newmetatable(L, kSocketMeta);
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_register(L, nullptr, kSocketPrimitives);
}

void close_idle_sockets() {
  for (auto& [key, idle] : idle_pool) {
    for (const Idle& i : idle) ::close(i.fd);
  }
  idle_pool.clear();
}

}  // namespace wg::lua

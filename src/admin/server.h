// Minimal admin HTTP listener: one thread running the gateway's own event
// loop (core::EventLoop) over a nonblocking listener and at most
// kMaxClients client sockets, heads parsed by the proxy's parser
// (http::HeadParser; bare-LF line ends are accepted and Host is optional,
// as this listener always allowed). HTTP/1.0 and 1.1, GET and HEAD unless
// a route takes other methods (DELETE), one request per connection (answers
// carry Connection: close).
//
// Its own thread, not the workers': admin work (rendering /metrics, soon
// building a config on reload) must never stall proxied requests, and
// workers stay free of admin state.
//
//   unknown path       -> 404 {"message":"Not found"}
//   method not the route's -> 405 {"message":"Method not allowed"} + Allow
//   malformed head     -> 400 {"message":"Bad request"}
//   head > 16 KiB      -> 431 {"message":"Request header fields too large"}
//   handler throws     -> 500 {"message":"An unexpected error occurred"}
// A client that does not complete its request (or read its answer) within
// the timeout is disconnected. A request body is never read.
//
// Routes registered by default: /metrics (Prometheus text from
// shared::Metrics::instance()) and /status ({"status":"ok"}). add_route()
// with the same path replaces a route; routes may be added while running.
// Paths match exactly, or by prefix for routes added with add_prefix_route
// (when no exact route matches; the longest prefix wins); the query string
// is split off into Request::query.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace wg::admin {

struct Request {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // target before '?'
  std::string query;   // after '?', without it
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent; values trimmed

  // First value of header `name` (case-insensitive), or null.
  const std::string* header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  // Extra headers. Content-Type, Content-Length and Connection are written
  // by the server; headers whose name or value holds CR/LF are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

class AdminServer {
 public:
  static constexpr size_t kMaxHeadSize = 16 * 1024;
  static constexpr size_t kMaxClients = 16;

  AdminServer();  // registers /metrics and /status
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Per-connection limit (from accept to the last byte of the answer).
  // Default 10 s. Set before start().
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }

  // Binds `listen` ("127.0.0.1:8001", "[::1]:8001", port 0 for any free
  // port) and starts the thread. False with *error set on failure (bad
  // address, bind/listen error, already running).
  bool start(const std::string& listen, std::string* error);
  // Wakes and joins the thread, closes every socket. Idempotent; start() may
  // be called again afterwards.
  void stop();
  bool running() const { return thread_.joinable(); }
  // The bound port (useful after listening on port 0); 0 when not running.
  uint16_t port() const { return port_; }

  // methods: what the route answers (HEAD with GET); GET by default.
  void add_route(std::string path, Handler handler, std::vector<std::string> methods = {"GET"});
  // Every path starting with `prefix` ("/proxy-cache/") that no exact route has.
  void add_prefix_route(std::string prefix, Handler handler, std::vector<std::string> methods = {"GET"});

 private:
  struct Client;
  struct Loop;  // the thread's event loop and its connections (server.cc)
  void run();
  void handle_head(Client& c, size_t head_end);
  void respond(Client& c, const Response& r, bool head_only);

  struct Route {
    Handler handler;
    std::vector<std::string> methods;
    bool allows(const std::string& method) const;
    std::string allow_header() const;
  };
  std::mutex routes_mu_;
  std::map<std::string, Route, std::less<>> routes_;
  std::map<std::string, Route, std::less<>> prefix_routes_;

  int timeout_ms_ = 10000;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd written by stop()
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace wg::admin

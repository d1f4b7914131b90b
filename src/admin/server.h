// Minimal admin HTTP listener: one thread running the gateway's own event
// loop (core::EventLoop) over a nonblocking listener and at most
// kMaxClients client sockets, heads parsed by the proxy's parser
// (http::HeadParser; bare-LF line ends are accepted and Host is optional,
// as this listener always allowed). HTTP/1.0 and 1.1, one request per
// connection (answers carry Connection: close); a body is read when it has
// a Content-Length (at most kMaxBodySize).
//
// Its own thread, not the workers': admin work (rendering /metrics, soon
// building a config on reload) must never stall proxied requests, and
// workers stay free of admin state.
//
//   unknown path       -> 404 {"message":"Not found"}
//   method not GET/HEAD on a plain route -> 405 {"message":"Method not allowed"} + Allow
//   malformed head     -> 400 {"message":"Bad request"}
//   head > 16 KiB      -> 431 {"message":"Request header fields too large"}
//   body > kMaxBodySize -> 413 {"message":"Request body too large"}
//   chunked body       -> 411 {"message":"Length required"}
//   handler throws     -> 500 {"message":"An unexpected error occurred"}
// A client that does not complete its request (or read its answer) within
// the timeout is disconnected.
//
// Routes registered by default: /metrics (Prometheus text from
// shared::Metrics::instance()) and /status ({"status":"ok"}). add_route()
// with the same path replaces a route; routes may be added while running.
// Plain routes match exactly and answer GET and HEAD; API routes
// (add_api_route) match a pattern whose `{name}` segments capture one path
// segment each (percent-decoded, in Request::params), take every method
// (HEAD is answered as GET without the body) and decide themselves which
// they allow. An exact route wins over a pattern; patterns are tried in the
// order they were added. The query string is split off into Request::query.
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
  std::string body;
  std::map<std::string, std::string, std::less<>> params;  // an API route's {name} segments

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
  static constexpr size_t kMaxBodySize = 16 * 1024 * 1024;  // a large declarative config fits

  AdminServer();  // registers /metrics and /status
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Per-connection limit (from accept to the last byte of the answer).
  // Default 10 s. Set before start().
  void set_timeout_ms(int ms) { timeout_ms_ = ms; }
  // When set, every request must carry it as Kong-Admin-Token (else 401).
  // Set before start().
  void set_token(std::string token) { token_ = std::move(token); }

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

  void add_route(std::string path, Handler handler);
  void add_api_route(std::string pattern, Handler handler);

 private:
  struct Client;
  struct Loop;  // the thread's event loop and its connections (server.cc)
  void run();
  // False while the body is still coming.
  bool handle_request(Client& c, size_t head_end);
  // The route for a path, with its {name} captures.
  Handler find_route(Request& req, bool* plain);
  void respond(Client& c, const Response& r, bool head_only);

  std::mutex routes_mu_;
  std::map<std::string, Handler, std::less<>> routes_;
  std::vector<std::pair<std::vector<std::string>, Handler>> api_routes_;  // pattern segments

  int timeout_ms_ = 10000;
  std::string token_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd written by stop()
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace wg::admin

// The outbound HTTP/1.1 client of a worker, on its event loop: a request
// goes in, its response comes back through a completion that runs on a
// later loop turn (from run(), never from inside send(), so a caller may
// send from a callback that must not be re-entered). One connection per
// request (Connection: close), a deadline per request (connect, send and
// the whole response). Used by Proxy-Wasm's http_call (wasm/client_hooks);
// http-log, Lua cosockets and Redis are meant to use it too. It knows no
// extension kind.
//
// No keep-alive pool yet: http_call has always sent Connection: close, and
// a pool would change what upstreams see; it belongs here when a user
// needs it (the per-worker upstream::Pool is the model).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/target.h"
#include "core/event_loop.h"
#include "http/body_framer.h"
#include "http/message.h"
#include "http/parser.h"

namespace wg::client {

struct Request {
  std::string target;  // for the client's TargetResolver
  std::string method = "GET";
  std::string path = "/";
  std::string authority;  // the Host header; empty: the endpoint's host
  // Sent as given, except pseudo-headers (':' names) and the fields the
  // client writes itself (Host, Content-Length, Transfer-Encoding,
  // Connection), which are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when not empty, or for POST, PUT, PATCH
  uint32_t timeout_ms = 0;  // 0: kDefaultTimeoutMs
  const char* purpose = "outbound request";  // names the request in logs
};

struct Response {
  bool ok = false;  // false: no response (connect error, timeout, bad or too large reply)
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;          // the payload (de-chunked)
  std::string trailer_text;  // a chunked answer's trailer section: field lines, each ended by '\n'
};

using Completion = std::function<void(Response&)>;

class HttpClient {
 public:
  static constexpr uint32_t kDefaultTimeoutMs = 60000;
  static constexpr size_t kMaxResponse = 16u << 20;  // head + body of one response

  HttpClient(core::EventLoop& loop, TargetResolver& targets) : loop_(loop), targets_(targets) {}
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts req. False when its target does not resolve: nothing started and
  // `done` is never called. Otherwise `done` runs exactly once, from a
  // later run() (with ok false when the connection could not even start).
  bool send(Request req, Completion done);
  // Times out late requests and runs the completions of finished ones. The
  // worker calls it once per loop turn.
  void run(uint64_t now_ms);
  size_t in_flight() const { return calls_.size(); }

 private:
  struct Call final : core::IoHandler {
    HttpClient* owner = nullptr;
    int fd = -1;
    Completion done;
    uint64_t deadline_ms = 0;
    uint32_t timeout_ms = 0;
    std::string target;  // for logs
    const char* purpose = "";
    std::string out;  // request bytes not yet written
    size_t out_off = 0;
    std::string in;   // response bytes read
    http::HeadParser parser;
    http::Head head;
    bool head_done = false;
    http::BodyFramer framer;
    size_t body_from = 0;  // where the unclaimed body starts in `in`
    bool finished = false;
    Response result;
    void on_io(uint32_t events) override;
  };
  void progress(Call& c, uint32_t events);
  bool read_response(Call& c);
  void finish(Call& c, bool ok);

  core::EventLoop& loop_;
  TargetResolver& targets_;
  std::vector<std::unique_ptr<Call>> calls_;
};

}  // namespace wg::client

// The server side of one HTTP/2 connection (RFC 9113), on nghttp2: bytes
// read from the client go in (receive), each stream's request comes out as
// an http::Head (the request as the flow needs it: method, target, path,
// query, host, headers without pseudo-headers; no second parse through the
// HTTP/1.1 parser) and body pieces; responses go in (submit_response,
// send_data, finish), frames come out (take_output). No socket and no
// clock of its own: the connection that owns it does the I/O.
//
// Abuse limits: SETTINGS_MAX_CONCURRENT_STREAMS; a header list larger than
// max_header_list bytes (RFC 7541 sizes: name + value + 32 each) or with
// more than kMaxHeaders fields resets its stream, so an HPACK bomb is
// decoded but never stored; more than max_continuations CONTINUATION
// frames after a HEADERS frame end the connection (the 2024 CONTINUATION
// flood, CVE-2024-28182 in nghttp2);
// client RST_STREAMs beyond a token bucket (CVE-2023-44487, rapid reset)
// end it with GOAWAY ENHANCE_YOUR_CALM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/message.h"

typedef struct nghttp2_session nghttp2_session;

namespace wg::http {

struct H2Limits {
  uint32_t max_concurrent_streams = 128;  // as nginx's http2_max_concurrent_streams
  uint32_t initial_window = 65535;        // per stream, SETTINGS_INITIAL_WINDOW_SIZE
  uint32_t max_header_list = 32768;       // SETTINGS_MAX_HEADER_LIST_SIZE, enforced on receipt
  uint32_t max_continuations = 8;         // CONTINUATION frames per header block
  // Client stream resets: a bucket of reset_burst tokens refilled at
  // reset_rate per second (nghttp2's own defaults are 1000 and 33).
  uint32_t reset_burst = 200;
  uint32_t reset_rate = 33;
};

// What the connection hears from its streams.
class H2Events {
 public:
  // A request head arrived. head's views stay valid until the stream
  // closes. end_stream: the request has no body.
  virtual void on_h2_request(int32_t stream_id, const Head& head, bool end_stream) = 0;
  // Request body bytes (valid during the call). The stream's receive
  // window reopens only as the caller reports them taken (consumed).
  virtual void on_h2_data(int32_t stream_id, const char* data, size_t len) = 0;
  // The request ended (END_STREAM), after its body and trailers.
  virtual void on_h2_request_end(int32_t stream_id) = 0;
  // The stream closed (error_code 0: normally); no event for it follows.
  virtual void on_h2_close(int32_t stream_id, uint32_t error_code) = 0;

 protected:
  ~H2Events() = default;
};

class H2Server {
 public:
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // Whether bytes (maybe only the start of a connection) are, or could
  // still become, the HTTP/2 connection preface: h2c by prior knowledge.
  static bool may_be_preface(std::string_view bytes) {
    const size_t n = bytes.size() < kPreface.size() ? bytes.size() : kPreface.size();
    return bytes.substr(0, n) == kPreface.substr(0, n);
  }

  H2Server(const H2Limits& limits, H2Events* events);
  ~H2Server();
  H2Server(const H2Server&) = delete;
  H2Server& operator=(const H2Server&) = delete;

  // Feeds bytes read from the client. False: the connection is broken
  // (protocol error, an abuse limit): send what take_output has (a GOAWAY),
  // then close. now_ms refills the reset bucket.
  bool receive(const char* data, size_t len, uint64_t now_ms);
  // Appends the frames ready to go to the client to out.
  void take_output(std::string& out);
  // Whether the connection has nothing more to do (both sides done, or
  // after a GOAWAY once its streams ended).
  bool finished() const;
  // Why the connection was given up ("" while it is fine), for the log.
  const char* error() const { return error_; }

  // The stream's request body bytes the caller took (sent on upstream):
  // their window reopens (WINDOW_UPDATE).
  void consumed(int32_t stream_id, size_t n);
  // Queues the response head. Hop-by-hop and HTTP/1.1 connection headers
  // are left out, names lower-cased (RFC 9113 8.2). end_stream: no body.
  bool submit_response(int32_t stream_id, int status, const Header* headers, size_t n, bool end_stream);
  // Queues response body bytes (copied); sent as flow control allows.
  void send_data(int32_t stream_id, const char* data, size_t len);
  // Bytes queued on the stream and not yet framed: the caller stops
  // reading its upstream above a threshold (backpressure).
  size_t buffered(int32_t stream_id) const;
  // The response body is complete; with trailers, they end the stream.
  void finish(int32_t stream_id, const Header* trailers = nullptr, size_t n = 0);
  // Resets one stream (RST_STREAM with error_code).
  void reset(int32_t stream_id, uint32_t error_code);
  // Graceful shutdown: GOAWAY with the last stream taken, no new streams.
  void goaway();

  // Callbacks from nghttp2 (internal).
  struct Stream;
  Stream* stream(int32_t id) const;
  int on_begin_headers(int32_t id);
  int on_header(int32_t id, std::string_view name, std::string_view value);
  int on_headers_done(int32_t id, bool end_stream);
  int on_data(int32_t id, const char* data, size_t len);
  int on_end(int32_t id);
  int on_close(int32_t id, uint32_t error_code);
  int on_rst_received();
  long read_data(int32_t id, uint8_t* buf, size_t len, uint32_t* flags);

 private:
  void fail(const char* why, uint32_t error_code);

  H2Limits limits_;
  H2Events* events_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string names_;  // scratch: lower-cased header names for a response
  double reset_tokens_;
  uint64_t reset_refill_ms_ = 0;
  uint64_t now_ms_ = 0;
  const char* error_ = "";
};

}  // namespace wg::http

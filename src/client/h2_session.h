// The client side of one HTTP/2 connection, as bytes in and bytes out (no
// socket): nghttp2 does the framing, HPACK, flow control and GOAWAY; this
// class keeps the streams a caller opened and tells each one's sink what
// came back. H2Connection (h2_connection.h) runs it on a socket; the fuzz
// target feeds it arbitrary server bytes.
//
// Sinks are called from inside feed() (and fail_all()), so a sink must only
// record what it is told: it may not open, send on or reset streams of this
// session from there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

typedef struct nghttp2_session nghttp2_session;

namespace wg::client {

using Fields = std::vector<std::pair<std::string, std::string>>;  // names lower-case

// What one stream's answer does.
class H2Sink {
 public:
  // The response head (with ":status"), or trailers (a second header block).
  virtual void on_headers(Fields& fields, bool trailers) = 0;
  virtual void on_data(std::string_view data) = 0;
  // The stream ended: error 0 after the peer's END_STREAM, else an HTTP/2
  // error code (RST_STREAM, or REFUSED_STREAM for a stream a GOAWAY cut);
  // lost: the connection went away under it.
  virtual void on_close(uint32_t error, bool lost) = 0;

 protected:
  ~H2Sink() = default;
};

class H2Session {
 public:
  static constexpr uint32_t kStreamWindow = 1u << 20;      // per stream, what we let the server send ahead
  static constexpr uint32_t kConnectionWindow = 4u << 20;  // for all streams together
  static constexpr uint32_t kMaxHeaderList = 64u << 10;    // a response's header block, decoded

  H2Session();
  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Opens a stream with the request head `fields` (pseudo-headers first);
  // its body goes through send(). -1 when the session takes no new stream
  // (a GOAWAY came, or it failed).
  int32_t open(const Fields& fields, H2Sink* sink);
  // Queues request body bytes; end: the last ones (END_STREAM). False when
  // the stream is gone or already ended.
  bool send(int32_t id, std::string_view data, bool end);
  // Resets a stream (RST_STREAM with `error`); its sink hears nothing more.
  void reset(int32_t id, uint32_t error);

  // Server bytes in; false when the connection is beyond saving (a protocol
  // error: nghttp2 has queued its GOAWAY, which output() still gives).
  bool feed(const char* data, size_t len);
  // The bytes to write now (frames nghttp2 produced); the caller writes what
  // it can and calls wrote() with that count.
  std::string_view output();
  void wrote(size_t n) { out_off_ += n; }
  // Whether the connection still has a use: open streams or unsent frames,
  // and no fatal error.
  bool busy() const;
  // Whether a new stream may start here.
  bool accepts_streams() const;
  size_t open_streams() const { return streams_.size(); }
  // The connection is gone: every open stream's sink hears on_close(lost).
  void fail_all();

 private:
  struct Stream {
    H2Sink* sink = nullptr;  // null once reset by us
    std::string body;        // request bytes not yet framed
    size_t body_off = 0;
    bool end = false;      // the caller has sent its last bytes
    bool deferred = false;  // nghttp2 waits for more body (resume on send)
    Fields fields;          // the header block being received
    size_t header_bytes = 0;  // its size so far, against kMaxHeaderList
    bool head_seen = false;   // the final response head came (the next block is trailers)
  };
  struct Callbacks;
  Stream* find(int32_t id);

  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string out_;
  size_t out_off_ = 0;
  bool failed_ = false;
};

}  // namespace wg::client

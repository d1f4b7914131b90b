// The downstream side of an HTTP/1.1 exchange: the client's connection
// (plain or TLS), the bytes read from it (request heads and bodies, parsed
// in place) and the bytes written to it (response heads, then bodies in the
// same writev).
//
// The request flow (request_flow.h) reaches its client only through these
// methods; the connection (session.h) owns the socket's lifecycle. The
// fields stay public for the two of them while HTTP/2's stream side takes
// shape (docs/architecture.md, "Downstream and request flow"). Everything
// is inline or non-virtual, so the plain proxy pays nothing for the seam.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>

#include <cstdint>
#include <string>

#include "core/buffer.h"
#include "http/body_framer.h"
#include "http/message.h"
#include "http/parser.h"
#include "proxy/response_head.h"
#include "transport/stream.h"

namespace wg::proxy {

struct ListenerInfo;

class Http1Downstream {
 public:
  // A new client connection on fd (the session registers it with the loop).
  // ssl: the TLS state to run over the socket, null for plain HTTP.
  void open(int fd, const sockaddr_storage& peer, const ListenerInfo& listener, SSL* ssl);
  // Closes the socket (TLS close_notify first) and gives the read buffer back.
  void close(core::BufferPool& buffers);
  // Records what an epoll event says about the socket.
  void on_events(uint32_t events) {
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hup_seen = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable = true;
    if ((events & EPOLLOUT) && stream.read_wants_write()) readable = true;
  }

  // Reads what the socket has into `in`: true when bytes arrived; false
  // when none can (then peer_closed says whether the client went away).
  bool read(core::BufferPool& buffers);
  // Lingering close: reads and drops until the client closes, so unread
  // bytes do not turn our close into a reset that destroys the reply.
  // False once the client closed (or failed).
  bool drain_until_closed();
  // Sends what is done (TLS close_notify) and half-closes the socket.
  void finish_writing();

  // Whether head bytes (`out`) are still waiting for the socket, how many.
  bool out_pending() const { return out_off < out.size(); }
  size_t out_left() const { return out.size() - out_off; }
  // Writes the pending head bytes followed by `body_len` body bytes in one
  // writev (a head and the body in hand leave as one segment, which wakes
  // the client once). Returns the bytes written (head first), or -1: the
  // socket is full (writable is then false) or failed (errno says which,
  // see would_block).
  ssize_t write_out(const char* body, size_t body_len) {
    const size_t head_left = out.size() - out_off;
    iovec iov[2] = {{out.data() + out_off, head_left}, {const_cast<char*>(body), body_len}};
    ssize_t n = stream.writev(iov, body_len > 0 ? 2 : 1);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) writable = false;
      return n;
    }
    const size_t sent = static_cast<size_t>(n);
    out_off += sent < head_left ? sent : head_left;
    return n;
  }
  // Writes body bytes alone; same contract as write_out.
  ssize_t write_body(const char* body, size_t len) {
    ssize_t n = stream.write(body, len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) writable = false;
    return n;
  }
  // The request: its head, parsed in place, then its body.
  //
  // Parses the head read so far (at most max_head bytes): Complete, then
  // `req` holds it; Error (parser.error_status() says which answer).
  http::ParseStatus parse_head(size_t max_head) {
    return parser.parse_request(in.data + in.start, in.size(), max_head, req);
  }
  // Whether the read buffer is full without a whole head (431).
  bool head_too_large() const { return in.start == 0 && in.end == in.cap; }
  // Whether nothing of a next request arrived yet (an idle connection).
  bool idle() const { return in.data == nullptr || in.empty(); }
  // An idle keep-alive connection gives its read buffer back to the pool.
  void release_idle_buffer(core::BufferPool& buffers) {
    if (in.data != nullptr && in.empty()) buffers.release(in);
  }
  // The head's bytes, which `req`'s views point into.
  std::string_view head_bytes() const { return {in.data + in.start, req.head_len}; }
  // The head was used (its views are dead from here): its bytes are dropped.
  void release_head() { in.consume(req.head_len); }
  // Drops every unread byte (a head that is answered with an error).
  void discard_input() { in.start = in.end = 0; }
  // Sets up reading the body the head announced; false when there is none.
  bool start_body() {
    req_body.start(req.body, req.content_length);
    expect_continue = req.expect_continue && req.minor_version >= 1 && !req_body.done;
    return !req_body.done;
  }
  // Whether the whole body was read from the wire (claimed; some may still
  // wait to be sent).
  bool body_read() const { return req_body.done; }
  // Claims newly read body bytes as they are on the wire (with a chunked
  // body's framing: it is relayed as is) and returns how many wait to be
  // sent, at body_data(). False in *error: invalid framing.
  size_t claim_body(bool* error) {
    req_ready += req_body.claim(in.data + in.start + req_ready, in.size() - req_ready, error);
    return req_ready;
  }
  const char* body_data() const { return in.data + in.start; }
  // n claimed body bytes were sent on.
  void body_sent(size_t n) {
    in.consume(n);
    req_ready -= n;
  }
  // Claims newly read body bytes decoded (a chunked body's payload, its
  // trailer section as received) into *payload: the bytes consumed.
  size_t claim_decoded_body(std::string* payload, std::string* trailer_text, bool* error) {
    if (in.empty()) return 0;
    size_t n = req_body.claim_decoded(in.data + in.start, in.size(), error, payload, trailer_text);
    in.consume(n);
    return n;
  }
  // Whether body bytes wait in the buffer (a 100 Continue is then moot).
  bool body_bytes_waiting() const { return !in.empty(); }
  // The exchange ended: a body read whole but not sent is dropped; false
  // when part of it is unread (where the next request starts is unknown).
  bool drop_body() {
    if (!req_body.done) return false;
    body_sent(req_ready);
    return true;
  }
  // Ready for the next request's head.
  void next_request() {
    parser.reset();
    req_ready = 0;
  }

  // Queues a response head for the client, in HTTP/1.minor_version (the
  // request's): sent with the next write_out.
  void write_head(const ResponseHead& h, int minor_version);
  // Queues "100 Continue" (the client waits for it before sending a body).
  void write_continue() { out.append("HTTP/1.1 100 Continue\r\n\r\n"); }
  // Queues an upstream's interim response (103) as it was received.
  void write_interim(std::string_view head) { out.append(head); }
  // Queues body bytes the flow made (a local reply's body) after the head.
  void queue_body(std::string_view bytes) { out.append(bytes); }
  // Forgets the head bytes once all were written.
  void clear_out() {
    out.clear();
    out_off = 0;
  }

  // The connection.
  transport::Stream stream;  // the client socket, plain or TLS
  bool readable = false;
  bool writable = true;
  bool peer_closed = false;
  bool hup_seen = false;      // the peer's close (or an error) was signalled
  uint16_t listen_port = 0;   // of the listener that accepted the connection
  bool https = false;         // the connection is TLS: the request's scheme is https
  char client_ip[46] = {0};
  uint16_t client_port = 0;
  bool close_after = false;   // close once the current exchange ends

  // Reading: the request head parsed in place in `in`, then its body.
  core::Buffer in;
  http::HeadParser parser;
  http::Head req{http::Head::kBorrowed};
  http::BodyFramer req_body;
  size_t req_ready = 0;       // claimed request body bytes at the front of in, not yet sent
  bool expect_continue = false;

  // Writing: pending bytes for the client (heads, local replies).
  std::string out;
  size_t out_off = 0;
};

}  // namespace wg::proxy

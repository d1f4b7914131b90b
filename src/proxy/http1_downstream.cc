// The client connection's socket work for HTTP/1.1: open, read, the
// response-head writer, lingering close. The walk of the request is the
// flow's (request_flow.cc).
#include "proxy/http1_downstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "proxy/wire.h"
#include "proxy/worker_context.h"

namespace wg::proxy {

namespace {

// What a response head's header loop saw that the writer adds lines of its
// own for.
struct SeenHeaders {
  std::string_view via;
  bool server = false, length = false;
};

// A response head's headers but hop-by-hop and pseudo ones. kLines: they
// come from a handler's map and may hold wire lines; a parsed head never
// does, and its loop (the plain proxy's) spares the test.
template <bool kLines>
[[gnu::always_inline]] inline SeenHeaders append_response_headers(std::string& o, const http::Header* headers, size_t n,
                                                                  bool from_upstream, bool upstream_framing) {
  SeenHeaders seen;
  for (size_t i = 0; i < n; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    if (hd.id == http::HeaderId::Via && from_upstream) {
      seen.via = hd.value;
      continue;
    }
    if (hd.id == http::HeaderId::ContentLength) {
      if (!upstream_framing) continue;  // ours replaces it
      seen.length = true;
    }
    if (hd.id == http::HeaderId::Server) seen.server = true;
    if constexpr (kLines) {
      append_header(o, hd);
    } else {
      append_header(o, hd.name, hd.value);
    }
  }
  return seen;
}

// A response head's lines that handlers added to it (a head they only add
// to), after its own; what they hold counts as the head's.
[[gnu::noinline]] void append_added_lines(std::string& o, const http::Header* added, size_t n, bool from_upstream,
                                          bool upstream_framing, SeenHeaders& seen) {
  const SeenHeaders more = append_response_headers<true>(o, added, n, from_upstream, upstream_framing);
  if (more.via.data() != nullptr) seen.via = more.via;
  seen.server = seen.server || more.server;
  seen.length = seen.length || more.length;
}

}  // namespace

void Http1Downstream::open(int fd, const sockaddr_storage& peer, const ListenerInfo& listener, SSL* ssl) {
  stream.attach(fd);
  listen_port = listener.port;
  https = listener.tls != nullptr;
  if (https) stream.start_tls(ssl);
  peer_closed = false;
  hup_seen = false;
  readable = false;
  writable = true;
  req_ready = 0;
  close_after = false;
  clear_out();
  if (peer.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&peer);
    inet_ntop(AF_INET, &v4->sin_addr, client_ip, sizeof client_ip);
    client_port = ntohs(v4->sin_port);
  } else {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    inet_ntop(AF_INET6, &v6->sin6_addr, client_ip, sizeof client_ip);
    client_port = ntohs(v6->sin6_port);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  parser.reset();
}

void Http1Downstream::close(core::BufferPool& buffers) {
  const int fd = stream.fd();
  stream.finish();
  ::close(fd);
  stream.attach(-1);
  buffers.release(in);
}


bool Http1Downstream::read(core::BufferPool& buffers) {
  if (!readable) return false;
  if (in.data == nullptr) buffers.acquire(in);
  if (in.end == in.cap) in.compact();
  if (in.end == in.cap) return false;
  size_t room = in.cap - in.end;
  ssize_t n = stream.read(in.data + in.end, room);
  if (n > 0) {
    in.end += static_cast<size_t>(n);
    // A short read drained the socket: skip the read that would only say
    // EAGAIN (the next arrival raises a new edge), unless the peer's close
    // is pending, which must still be read.
    if (stream.drained(static_cast<size_t>(n), room) && !hup_seen) readable = false;
    return true;
  }
  if (would_block(n)) {
    readable = false;
    return false;
  }
  peer_closed = true;
  return false;
}

bool Http1Downstream::drain_until_closed() {
  char sink[4096];
  while (readable) {
    ssize_t n = ::read(stream.fd(), sink, sizeof sink);  // past TLS: bytes to drop
    if (n > 0) continue;
    if (would_block(n)) {
      readable = false;
      break;
    }
    return false;
  }
  return true;
}

void Http1Downstream::finish_writing() {
  stream.finish();  // TLS: close_notify first
  ::shutdown(stream.fd(), SHUT_WR);
}



// The one response-head writer: status line, the headers (hop-by-hop and
// pseudo-headers left out), the flow's lines, framing, the gateway's
// headers, connection management.
void Http1Downstream::write_head(const ResponseHead& h, int minor_version) {
  std::string& o = out;
  o.append(minor_version == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  append_uint(o, static_cast<uint64_t>(h.status));
  o.push_back(' ');
  o.append(h.reason.empty() ? http::reason_phrase(h.status) : h.reason);
  o.append("\r\n");
  const bool upstream_framing = h.framing == Framing::Upstream;
  SeenHeaders seen =
      h.wire_lines ? append_response_headers<true>(o, h.headers, h.num_headers, h.from_upstream, upstream_framing)
                   : append_response_headers<false>(o, h.headers, h.num_headers, h.from_upstream, upstream_framing);
  if (h.added != nullptr) append_added_lines(o, h.added, h.num_added, h.from_upstream, upstream_framing, seen);
  const std::string_view via = seen.via;
  const bool has_server = seen.server, has_length = seen.length;
  o.append(h.extra);
  switch (h.framing) {
    case Framing::Upstream:
      if (h.upstream_body == http::BodyKind::Chunked) o.append("Transfer-Encoding: chunked\r\n");
      if (h.upstream_body == http::BodyKind::UntilClose) close_after = true;
      // A handler removed Content-Length from a body it let through as is.
      if (h.upstream_body == http::BodyKind::Length && !has_length && h.restore_length) {
        o.append("Content-Length: ");
        append_uint(o, h.upstream_length);
        o.append("\r\n");
      }
      break;
    case Framing::Length:
      o.append("Content-Length: ");
      append_uint(o, h.length);
      o.append("\r\n");
      break;
    case Framing::Chunked:
      o.append("Transfer-Encoding: chunked\r\n");
      break;
    case Framing::Close:
      close_after = true;
      break;
  }
  if (h.from_upstream) {
    if (h.draining) close_after = true;
    o.append("X-Kong-Upstream-Latency: ");
    append_uint(o, h.upstream_latency_ms);
    o.append("\r\nX-Kong-Proxy-Latency: ");
    append_uint(o, h.proxy_latency_ms);
    o.append("\r\nVia: ");
    if (via.data() != nullptr) {
      o.append(via);
      o.append(", ");
    }
    o.append("1.1 " kServerToken "\r\n");
  }
  if (!has_server) o.append("Server: " kServerToken "\r\n");
  if (h.upgrade) {
    // The tunnel follows (Session::start_tunnel).
    o.append("Connection: upgrade\r\nUpgrade: websocket\r\n");
  } else if (close_after) {
    o.append("Connection: close\r\n");
  } else if (minor_version == 0 && h.from_upstream) {
    o.append("Connection: keep-alive\r\n");
  }
  o.append("\r\n");
}

}  // namespace wg::proxy

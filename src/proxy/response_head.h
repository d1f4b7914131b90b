// A response head as the request flow decided it, handed to the downstream
// codec that puts it on the client's wire (Http1Downstream::write_head for
// HTTP/1.1). The flow decides what the client is told (status, headers,
// framing, the gateway's own headers); the codec decides how it is written.
#pragma once

#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace wg::proxy {

// How the client learns where the response body ends.
enum class Framing : uint8_t { Upstream, Length, Chunked, Close };

struct ResponseHead {
  int status = 0;
  std::string_view reason;  // empty: the standard phrase
  const http::Header* headers = nullptr;
  size_t num_headers = 0;
  bool from_upstream = false;  // adds the Via chain and Kong's latency headers
  Framing framing = Framing::Upstream;
  uint64_t length = 0;         // for Framing::Length
  std::string_view extra;      // whole header lines of ours (Location, Set-Cookie)
  bool wire_lines = false;     // headers is a handler's map: it may hold wire lines (Header::wire_line)
  // Lines handlers added to a head they only add to (a deferred map's
  // additions, which may be wire lines), written after headers; what they
  // hold counts as the head's (Via, Server, Content-Length).
  const http::Header* added = nullptr;
  size_t num_added = 0;
  // Framing::Upstream: the upstream body's framing, relayed as it is.
  http::BodyKind upstream_body = http::BodyKind::None;
  uint64_t upstream_length = 0;
  bool restore_length = false;  // a handler may have removed the upstream's Content-Length
  // from_upstream: Kong's X-Kong-Upstream-Latency and X-Kong-Proxy-Latency.
  uint64_t upstream_latency_ms = 0, proxy_latency_ms = 0;
  bool draining = false;  // the worker is draining: the connection closes after this exchange
  bool upgrade = false;   // a 101 to a WebSocket upgrade: Connection: upgrade, Upgrade: websocket
};

}  // namespace wg::proxy

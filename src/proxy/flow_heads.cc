// The heads the flow writes: the upstream request head (from the
// Exchange's headers when handlers ran, so their edits always go upstream)
// and the client's response head, one writer for upstream responses,
// gateway errors and handler replies.
#include <charconv>

#include "proxy/worker_context.h"
#include "proxy/request_flow.h"
#include "proxy/wire.h"

namespace wg::proxy {

namespace {

// What the request head's header loop saw that the writer adds lines of
// its own for.
struct OutgoingLines {
  std::string_view via;
  std::string_view xff_first;  // common case: one X-Forwarded-For header, no copy
  bool xff_many = false;
};

// The request headers that go upstream as they are: not hop-by-hop, not
// pseudo, not the ones the gateway writes itself (Host, framing,
// X-Forwarded-*, X-Real-IP, Via: those are noted in `seen`).
[[gnu::always_inline]] inline void append_request_headers(std::string& h, const http::Header* headers, size_t n,
                                                          OutgoingLines& seen) {
  for (size_t i = 0; i < n; ++i) {
    const http::Header& hd = headers[i];
    if (hd.hop_by_hop || hd.name[0] == ':') continue;
    switch (hd.id) {
      case http::HeaderId::Host:
      case http::HeaderId::ContentLength:
      case http::HeaderId::Expect:
      case http::HeaderId::XForwardedProto:
      case http::HeaderId::XForwardedHost:
      case http::HeaderId::XForwardedPort:
      case http::HeaderId::XForwardedPath:
      case http::HeaderId::XForwardedPrefix:
      case http::HeaderId::XRealIp:
        continue;
      case http::HeaderId::Via:
        seen.via = hd.value;
        continue;
      case http::HeaderId::XForwardedFor:
        if (seen.xff_first.data() == nullptr) {
          seen.xff_first = hd.value;
        } else {
          seen.xff_many = true;
        }
        continue;
      default:
        break;
    }
    append_header(h, hd);
  }
}

}  // namespace

// The request headers to send upstream: the Exchange's map when the
// handlers had the request (they may have changed it), else the parsed head.
void RequestFlow::outgoing_request_headers(const http::Header** headers, size_t* n) const {
  if (map_holds_head(pipeline::Direction::Request)) {
    *headers = x_->request_headers.data();
    *n = x_->request_headers.size();
  } else {
    *headers = down_->req.headers;
    *n = down_->req.num_headers;
  }
}

void RequestFlow::build_upstream_head(std::string_view upstream_path) {
  const config::Route& route = snap_->decl.routes[route_];
  const http::Header* headers;
  size_t num_headers;
  outgoing_request_headers(&headers, &num_headers);
  std::string_view method = down_->req.method;
  std::string_view host = route.preserve_host ? down_->req.host : host_for_peer();
  preserve_host_ = route.preserve_host;
  // Lines handlers added to a head they only add to: after the head's own.
  const http::HeaderMap* added = added_lines(pipeline::Direction::Request);
  if ((map_holds_head(pipeline::Direction::Request) || added != nullptr) &&
      x_->request_headers.pseudo_changed()) {
    // A handler changed a pseudo-header (the map's entries carry their
    // HeaderIds; pseudo-headers are skipped below). Where handlers only
    // add, the head's own pseudo-headers come first and change nothing.
    for (const http::Header& hd : x_->request_headers) {
      if (hd.name == ":method") {
        method = hd.value;
      } else if (hd.name == ":path") {
        if (hd.value != routed_target_) upstream_path = hd.value;  // a handler rewrote the path: sent as is
      } else if (hd.name == ":authority") {
        if (hd.value != down_->req.host) {
          host = hd.value;
          preserve_host_ = true;  // the handler chose the Host: keep it on retries
        }
      }
    }
  }
  std::string& h = up_head_;
  h.clear();
  h.append(method);
  h.push_back(' ');
  h.append(upstream_path);
  // A 1.0 client gets a 1.0 exchange upstream, so the response is never chunked.
  h.append(down_->req.minor_version == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  h.append("Host: ");
  host_value_pos_ = h.size();
  h.append(host);
  host_value_len_ = h.size() - host_value_pos_;
  h.append("\r\n");

  OutgoingLines seen;
  append_request_headers(h, headers, num_headers, seen);
  if (added != nullptr) append_request_headers(h, added->data(), added->size(), seen);
  const std::string_view via = seen.via, xff_first = seen.xff_first;
  const bool xff_many = seen.xff_many;
  // Kong's upgrade headers (the client's were hop-by-hop, dropped above).
  if (upgrade_) h.append("Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n");
  // A body that goes through the handlers gets its framing when they first
  // let bytes out (frame_request_output).
  if (req_wire_.active) {
  } else if (down_->req.body == http::BodyKind::Length) {
    h.append("Content-Length: ");
    append_uint(h, down_->req.content_length);
    h.append("\r\n");
  } else if (down_->req.body == http::BodyKind::Chunked) {
    h.append("Transfer-Encoding: chunked\r\n");
  }
  // X-Forwarded-For: the client's list with the client appended, as nginx's
  // $proxy_add_x_forwarded_for; the other X-Forwarded-* are ours (the client
  // is not a trusted proxy).
  h.append("X-Forwarded-For: ");
  if (xff_first.data() != nullptr) {
    if (!xff_many) {
      h.append(xff_first);
    } else {
      bool first = true;
      auto join = [&](const http::Header* list, size_t n) {
        for (size_t i = 0; i < n; ++i) {
          if (list[i].id != http::HeaderId::XForwardedFor) continue;
          if (!first) h.append(", ");
          h.append(list[i].value);
          first = false;
        }
      };
      join(headers, num_headers);
      if (added != nullptr) join(added->data(), added->size());
    }
    h.append(", ");
  }
  h.append(down_->client_ip);
  // Two appends of constant length: a length known at compile time is
  // copied inline (a chosen one cost 20 instructions per request).
  if (down_->https) {
    h.append("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ");
  } else {
    h.append("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ");
  }
  // nginx's $host: lower-cased, without the port.
  http::append_lower(h, http::host_without_port(down_->req.host));
  h.append("\r\nX-Forwarded-Port: ");
  append_uint(h, static_cast<uint64_t>(down_->listen_port));
  h.append("\r\nX-Forwarded-Path: ");
  h.append(down_->req.path);
  h.append("\r\n");
  // The prefix stripped by strip_path, so the upstream can rebuild links.
  if (!fwd_prefix_.empty() && fwd_prefix_ != "/") append_header(h, "X-Forwarded-Prefix", fwd_prefix_);
  append_header(h, "X-Real-IP", down_->client_ip);
  // Via: the client's chain with us appended (RFC 9110 7.6.3), as Kong does.
  h.append("Via: ");
  if (via.data() != nullptr) {
    h.append(via);
    h.append(", ");
  }
  h.append(down_->req.minor_version == 0 ? "1.0 " kServerToken "\r\n\r\n" : "1.1 " kServerToken "\r\n\r\n");
  request_replayable_ = down_->req.body == http::BodyKind::None;
}

// Kong's Host when preserve_host is off: the upstream's host_header, else
// the chosen target's name; with the target's port unless 80.
std::string_view RequestFlow::host_for_peer() const { return balancer_->peers()[peer_].host_header; }

// The client's response head for the upstream's response. With handlers,
// the headers (and the status) are the ones they left; framing is the
// upstream's unless the body went through them.
void RequestFlow::build_client_head(Framing framing, uint64_t length) {
  ResponseHead h;
  h.status = resp_.status;
  h.reason = resp_.reason;
  h.headers = resp_.headers;
  h.num_headers = resp_.num_headers;
  h.from_upstream = true;
  h.framing = framing;
  h.length = length;
  h.extra = set_cookie_;
  if (map_holds_head(pipeline::Direction::Response)) {
    const http::HeaderMap& m = x_->response_headers;
    if (m.pseudo_changed()) {
      int st = 0;
      std::string_view v = m.get_exact(":status");
      std::from_chars(v.data(), v.data() + v.size(), st);
      if (st >= 100 && st <= 999) h.status = st;
    }
    h.headers = m.data();
    h.num_headers = m.size();
    h.wire_lines = true;
    // The upstream's bytes are gone, but the map kept a copy of the head;
    // a new status gets its standard phrase.
    h.reason = h.status == resp_.status ? m.kept(resp_.reason) : std::string_view();
  } else if (const http::HeaderMap* added = added_lines(pipeline::Direction::Response)) {
    // The parsed head (its bytes still in the read buffer) and then what
    // the handlers added; the head's own :status comes first, so an added
    // one changes nothing, as in their map.
    h.added = added->data();
    h.num_added = added->size();
  }
  write_response_head(h);
}

// The gateway's part of a response head (framing of a relayed body,
// Kong's latency headers, whether the connection stays), then the codec
// writes it.
void RequestFlow::write_response_head(ResponseHead& h) {
  if (h.framing == Framing::Upstream) {
    h.upstream_body = resp_body_.kind;
    h.upstream_length = resp_.content_length;
    h.restore_length = map_holds_head(pipeline::Direction::Response);
  }
  if (h.from_upstream) {
    const pipeline::Timings& t = x_->timings;
    h.upstream_latency_ms = t.upstream_head_ms - t.upstream_start_ms;
    h.proxy_latency_ms = t.upstream_start_ms - t.start_ms;
    h.draining = worker_->draining();
    // An upgrade request's 101 (parse_response_head): the tunnel follows.
    h.upgrade = h.status == 101 && upgrade_;
  }
  down_->write_head(h, x_->minor_version);
}

// A gateway answer in Kong's shape: {"message": "..."} (none for redirects).
void RequestFlow::local_reply(int status, std::string_view message, bool close_after, std::string_view extra_headers) {
  release_upstream(false);
  x_->log.status = status;
  down_->close_after = down_->close_after || close_after;
  // Redirects carry no body, like kong.response.exit(code) without one.
  const bool body = !message.empty();
  const http::Header content_type{"Content-Type", "application/json; charset=utf-8", http::HeaderId::Other, false};
  ResponseHead h;
  h.status = status;
  h.headers = body ? &content_type : nullptr;
  h.num_headers = body ? 1 : 0;
  h.framing = Framing::Length;
  h.length = body ? message.size() + 15 : 0;  // {"message":"..."}\n
  h.extra = extra_headers;
  write_response_head(h);
  if (body && !x_->head_request) {
    down_->queue_body("{\"message\":\"");
    down_->queue_body(message);
    down_->queue_body("\"}\n");
  }
  resp_started_ = true;
  state_ = State::LocalReply;
}

// A route that only allows https, hit over plain http (Kong's behaviour).
void RequestFlow::https_redirect(const config::Route& route, bool body_pending) {
  int code = route.https_redirect_status_code;
  if (code == 426) {
    local_reply(426, "Please use HTTPS protocol", down_->close_after || body_pending, "Upgrade: TLS/1.2, HTTP/1.1\r\n");
    return;
  }
  std::string location = "Location: https://";
  http::append_lower(location, http::host_without_port(down_->req.host));
  location.append(down_->req.target);
  location.append("\r\n");
  local_reply(code, "", down_->close_after || body_pending, location);
}

}  // namespace wg::proxy

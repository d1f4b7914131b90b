#include "client/grpc_client.h"

#include <nghttp2/nghttp2.h>

#include <cstring>

#include "http/message.h"
#include "tls/client.h"

namespace wg::client {
namespace {

// Fields the client writes itself, or that HTTP/2 forbids: a caller's
// metadata cannot replace or add them.
bool reserved(const std::string& k) {
  return k.empty() || k[0] == ':' || k == "content-type" || k == "te" || k == "grpc-timeout" || k == "connection" ||
         k == "host" || k == "transfer-encoding" || k == "keep-alive" || k == "upgrade" || k == "proxy-connection";
}

// What a stream reset by the peer means to a gRPC caller (the gRPC spec's
// "HTTP2 error code to gRPC status" mapping, where it names one).
grpc::Status status_of_reset(uint32_t h2_error) {
  switch (h2_error) {
    case NGHTTP2_REFUSED_STREAM: return grpc::kUnavailable;  // not processed: also what a GOAWAY cuts
    case NGHTTP2_CANCEL: return grpc::kCancelled;
    case NGHTTP2_ENHANCE_YOUR_CALM: return grpc::kResourceExhausted;
    case NGHTTP2_INADEQUATE_SECURITY: return grpc::kPermissionDenied;
    default: return grpc::kInternal;
  }
}

// A connection serves calls to one peer address with one TLS setup and
// server name.
std::string connection_key(const Endpoint& ep) {
  std::string key(reinterpret_cast<const char*>(&ep.addr), ep.len);
  if (ep.tls) {
    key.append(std::to_string(reinterpret_cast<uintptr_t>(ep.tls.get()))).push_back(' ');
    key.append(http::host_without_port(ep.host));
  }
  return key;
}

}  // namespace

struct GrpcClient::Conn {
  Conn(core::EventLoop& loop, const Endpoint& ep)
      : key(connection_key(ep)),
        tls(ep.tls),
        h2(loop, ep, tls.get(), std::string(http::host_without_port(ep.host))),
        connect_deadline_ms(loop.now_ms() + kConnectTimeoutMs) {}
  std::string key;
  std::shared_ptr<const tls::ClientTls> tls;  // kept while the key names it
  H2Connection h2;
  uint64_t idle_since = 0;  // when its last stream ended; 0: in use
  uint64_t connect_deadline_ms;  // until the upstream is heard from
};

// A call is its stream's sink: what nghttp2 reports becomes events,
// delivered to the handler by run().
struct GrpcClient::Call final : H2Sink {
  GrpcClient* owner = nullptr;
  uint64_t id = 0;
  std::unique_ptr<GrpcHandler> handler;
  Conn* conn = nullptr;  // null once the stream is over
  int32_t stream = -1;
  grpc::MessageReader reader{kMaxMessage};
  std::vector<std::string> messages;  // scratch for the reader
  uint64_t deadline_ms = 0;           // 0: none
  int http_status = 0;
  bool status_seen = false;  // grpc-status came (trailers, or a trailers-only answer)
  uint32_t status = grpc::kUnknown;
  std::string status_message;
  bool ended = false;     // its Close event is queued
  bool sent_end = false;  // the request side is half-closed
  bool cancelled = false;  // by the caller: nothing more is delivered

  void on_headers(Fields& fields, bool trailers) override {
    if (ended) return;
    grpc::Metadata md;
    md.reserve(fields.size());
    for (auto& [k, v] : fields) {
      if (k == ":status") http_status = std::atoi(v.c_str());
      if (!k.empty() && k[0] != ':') md.emplace_back(std::move(k), std::move(v));
    }
    // A head that already carries grpc-status is a trailers-only answer.
    bool has_status = grpc::parse_status(md, &status, &status_message);
    status_seen = status_seen || has_status;
    bool as_trailers = trailers || has_status;
    owner->push({as_trailers ? Event::TrailingMetadata : Event::InitialMetadata, id, std::move(md), {}, 0});
  }

  void on_data(std::string_view data) override {
    if (ended) return;
    messages.clear();
    auto r = reader.feed(data, &messages);
    for (auto& m : messages) owner->push({Event::Message, id, {}, std::move(m), 0});
    if (r == grpc::MessageReader::Result::Ok) return;
    conn->h2.session().reset(stream, NGHTTP2_CANCEL);  // flushed by the connection after this read
    if (r == grpc::MessageReader::Result::TooLarge) {
      owner->end_call(*this, grpc::kResourceExhausted, "received message larger than max (4194304)");
    } else {
      owner->end_call(*this, grpc::kInternal, "compressed message received: no grpc-encoding was offered");
    }
  }

  void on_close(uint32_t error, bool lost) override {
    if (ended) return;
    if (lost) {
      owner->end_call(*this, grpc::kUnavailable,
                      std::string("upstream connect error or disconnect/reset before end of stream: ") +
                          conn->h2.failure());
    } else if (error != 0) {
      owner->end_call(*this, status_of_reset(error),
                      "stream reset by the upstream (HTTP/2 error " + std::to_string(error) + ")");
    } else if (reader.pending() != 0) {
      owner->end_call(*this, grpc::kInternal, "the response ended inside a message");
    } else if (status_seen) {
      owner->end_call(*this, status, std::move(status_message));
    } else if (http_status != 200) {
      owner->end_call(*this, grpc::status_of_http(http_status),
                      "the upstream answered HTTP " + std::to_string(http_status) + " without grpc-status");
    } else {
      owner->end_call(*this, grpc::kInternal, "the response carried no grpc-status");
    }
  }
};

GrpcClient::GrpcClient(core::EventLoop& loop, TargetResolver& targets) : loop_(loop), targets_(targets) {}

GrpcClient::~GrpcClient() {
  conns_.clear();  // first: a connection tells no sink when it is destroyed
  calls_.clear();
}

GrpcClient::Conn* GrpcClient::connection_for(const Endpoint& ep) {
  const std::string key = connection_key(ep);
  for (auto& c : conns_) {
    if (c->key == key && !c->h2.dead() && c->h2.session().accepts_streams() &&
        c->h2.session().open_streams() < kMaxStreamsPerConnection) {
      return c.get();
    }
  }
  conns_.push_back(std::make_unique<Conn>(loop_, ep));
  return conns_.back().get();
}

uint64_t GrpcClient::start(GrpcCallSpec spec, std::unique_ptr<GrpcHandler> handler) {
  Endpoint ep;
  if (!targets_.resolve(spec.target, &ep)) return 0;
  auto owned = std::make_unique<Call>();
  Call& c = *owned;
  c.owner = this;
  c.id = next_id_++;
  c.handler = std::move(handler);
  calls_.emplace(c.id, std::move(owned));

  Fields head = {{":method", "POST"},
                 {":scheme", ep.tls ? "https" : "http"},
                 {":path", "/" + spec.service + "/" + spec.method},
                 {":authority", ep.host},
                 {"content-type", "application/grpc"},
                 {"te", "trailers"}};
  if (spec.timeout_ms != 0) {
    head.emplace_back("grpc-timeout", grpc::timeout_header(spec.timeout_ms));
    c.deadline_ms = loop_.now_ms() + spec.timeout_ms;
  }
  for (auto& [k, v] : spec.metadata) {
    std::string name;
    http::append_lower(name, k);
    if (!reserved(name)) head.emplace_back(std::move(name), std::move(v));
  }
  Conn* conn = connection_for(ep);
  int32_t stream = conn->h2.dead() ? -1 : conn->h2.session().open(head, &c);
  if (stream < 0) {
    end_call(c, grpc::kUnavailable, std::string("upstream connect error: ") + conn->h2.failure());
    return c.id;
  }
  c.conn = conn;
  c.stream = stream;
  conn->idle_since = 0;
  conn->h2.flush();  // may fail the connection: the call then ends, through on_close
  return c.id;
}

bool GrpcClient::send(uint64_t id, std::string_view message, bool end) {
  std::string framed;
  framed.reserve(message.size() + 5);
  grpc::append_message(framed, message);
  return send_frame(id, framed, end);
}

bool GrpcClient::send_frame(uint64_t id, std::string_view framed, bool end) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return false;
  Call& c = *it->second;
  if (c.ended || c.sent_end || c.conn == nullptr) return false;
  if (!c.conn->h2.session().send(c.stream, framed, end)) return false;
  c.sent_end = end;
  c.conn->h2.flush();
  return true;
}

// The call stays in calls_ until run() (its handler may be the caller).
bool GrpcClient::cancel(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->cancelled) return false;
  Call& c = *it->second;
  if (!c.ended && c.conn != nullptr) {
    c.conn->h2.session().reset(c.stream, NGHTTP2_CANCEL);
    c.conn->h2.flush();
  }
  c.ended = true;
  c.cancelled = true;
  c.conn = nullptr;
  return true;
}

void GrpcClient::end_call(Call& c, uint32_t status, std::string message) {
  if (c.ended) return;
  c.ended = true;
  c.conn = nullptr;
  push({Event::Close, c.id, {}, std::move(message), status});
}

void GrpcClient::run(uint64_t now_ms) {
  if (calls_.empty() && conns_.empty()) return;
  for (auto& c : conns_) {
    if (!c->h2.dead() && !c->h2.heard() && now_ms >= c->connect_deadline_ms) c->h2.die("connect timeout");
  }
  for (auto& [id, c] : calls_) {
    if (c->ended || c->deadline_ms == 0 || now_ms < c->deadline_ms) continue;
    if (c->conn != nullptr) {
      c->conn->h2.session().reset(c->stream, NGHTTP2_CANCEL);
      c->conn->h2.flush();
    }
    end_call(*c, grpc::kDeadlineExceeded, "deadline exceeded");
  }
  // Handlers may start, send on or cancel calls: events are taken first,
  // and each call is looked up again (a cancelled one hears nothing more).
  // What they cause is delivered in a further round, a few at most.
  for (int round = 0; round < 4 && !events_.empty(); ++round) {
    std::vector<Event> events;
    events.swap(events_);
    for (Event& e : events) {
      auto it = calls_.find(e.call);
      if (it == calls_.end() || it->second->cancelled) continue;
      GrpcHandler& h = *it->second->handler;
      switch (e.kind) {
        case Event::InitialMetadata: h.on_initial_metadata(e.md); break;
        case Event::Message: h.on_message(e.data); break;
        case Event::TrailingMetadata: h.on_trailing_metadata(e.md); break;
        case Event::Close: {
          std::unique_ptr<Call> done = std::move(it->second);
          calls_.erase(it);
          done->handler->on_close(e.status, e.data);
          break;
        }
      }
    }
  }
  std::erase_if(calls_, [](const auto& kv) { return kv.second->cancelled; });
  // Connections: dead ones go; idle ones go after kIdleMs.
  for (size_t i = 0; i < conns_.size();) {
    Conn& c = *conns_[i];
    bool in_use = c.h2.session().open_streams() != 0;
    if (!in_use && c.idle_since == 0) c.idle_since = now_ms;
    if (c.h2.dead() || (!in_use && (now_ms - c.idle_since >= kIdleMs || !c.h2.session().accepts_streams()))) {
      conns_.erase(conns_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

}  // namespace wg::client

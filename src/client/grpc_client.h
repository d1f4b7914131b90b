// The outbound gRPC client of a worker: calls to a target (what the
// TargetResolver knows: "ip:port", a service or upstream name) over HTTP/2
// connections it keeps per peer address, many calls multiplexed on one.
// A call is a stream: open it, send messages (the last one, or close(),
// half-closes), and its answer comes back through its handler as initial
// metadata, messages, trailing metadata and a final status. A unary call
// is a stream with one message each way; the caller decides what that
// means for its own users (Proxy-Wasm's rules live in wasm/client_hooks).
//
// Handlers run from run(), on a later loop turn, never from inside
// start(), send(), cancel() or close(): a caller may call those from a
// context that must not be re-entered (a Wasm host function).
// Failures are gRPC statuses, as a gRPC client reports them: no connection
// or a connection lost is 14 UNAVAILABLE, the deadline 4 DEADLINE_EXCEEDED,
// a malformed answer 13 INTERNAL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/grpc_wire.h"
#include "client/h2_connection.h"
#include "client/target.h"
#include "core/event_loop.h"

namespace wg::client {

struct GrpcCallSpec {
  std::string target;
  std::string service;  // "package.Service"
  std::string method;
  grpc::Metadata metadata;  // lower-case names; reserved ones (pseudo, content-type, te, grpc-timeout, …) are dropped
  uint32_t timeout_ms = 0;  // 0: none (no grpc-timeout, no deadline)
};

// What a call's answer does, in this order: initial metadata (not for a
// trailers-only answer), messages, trailing metadata, then on_close once.
class GrpcHandler {
 public:
  virtual ~GrpcHandler() = default;
  virtual void on_initial_metadata(grpc::Metadata& md) = 0;
  virtual void on_message(std::string& message) = 0;
  virtual void on_trailing_metadata(grpc::Metadata& md) = 0;
  virtual void on_close(uint32_t status, const std::string& message) = 0;
};

class GrpcClient {
 public:
  static constexpr size_t kMaxMessage = 4u << 20;  // a received message (gRPC's default limit)
  static constexpr uint64_t kIdleMs = 60000;       // an unused connection closes after this
  static constexpr size_t kMaxStreamsPerConnection = 100;
  // TCP connect, TLS handshake and the upstream's first frame, together
  // (Envoy's default cluster connect_timeout): streams have no deadline.
  static constexpr uint64_t kConnectTimeoutMs = 5000;

  GrpcClient(core::EventLoop& loop, TargetResolver& targets);
  ~GrpcClient();
  GrpcClient(const GrpcClient&) = delete;
  GrpcClient& operator=(const GrpcClient&) = delete;

  // Opens a call: its id, or 0 when the target does not resolve (nothing
  // started, the handler is dropped).
  uint64_t start(GrpcCallSpec spec, std::unique_ptr<GrpcHandler> handler);
  // Sends one message; end: it is the last (half-close). False when the
  // call is unknown or has already ended its side.
  bool send(uint64_t id, std::string_view message, bool end);
  // Half-closes (no more messages) without a message.
  bool close(uint64_t id) { return send_frame(id, {}, true); }
  // Resets the stream; the handler hears nothing more. False if unknown.
  bool cancel(uint64_t id);
  // Delivers what came back since the last turn and times out late calls.
  void run(uint64_t now_ms);
  size_t calls() const { return calls_.size(); }
  size_t connections() const { return conns_.size(); }

 private:
  struct Conn;
  struct Call;
  struct Event {
    enum Kind : uint8_t { InitialMetadata, Message, TrailingMetadata, Close } kind;
    uint64_t call;
    grpc::Metadata md;
    std::string data;  // a message, or the close's message
    uint32_t status = 0;
  };
  Conn* connection_for(const Endpoint& ep);
  bool send_frame(uint64_t id, std::string_view framed, bool end);
  void push(Event e) { events_.push_back(std::move(e)); }
  void end_call(Call& c, uint32_t status, std::string message);

  core::EventLoop& loop_;
  TargetResolver& targets_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::vector<Event> events_;  // delivered by run()
  uint64_t next_id_ = 1;
};

}  // namespace wg::client

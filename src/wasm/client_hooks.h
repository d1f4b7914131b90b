// What a worker's filters ask of it (WorkerHooks), answered with the
// worker's outbound HTTP and gRPC clients and name resolver (src/client):
// the thin adapter between Proxy-Wasm's http_call / grpc_call /
// grpc_stream / resolve_lua and the clients, which know nothing of Wasm.
// Answers reach the filter through its VM (on_http_call_response,
// on_grpc_*, on_foreign_function) if the VM is still alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "client/grpc_client.h"
#include "client/http_client.h"
#include "client/name_resolver.h"
#include "wasm/proxy_wasm.h"

namespace wg::wasm {

class ClientHooks final : public WorkerHooks {
 public:
  ClientHooks(client::HttpClient& http, client::GrpcClient& grpc, client::NameResolver& names)
      : http_(http), grpc_(grpc), names_(names) {}

  // Targets: "ip:port", or a configured service or upstream (whatever the
  // client's TargetResolver knows); false when it does not resolve.
  bool dispatch_http_call(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, HttpCallSpec spec) override;
  bool resolve_name(std::shared_ptr<FilterVm> vm, uint32_t ctx, const std::string& name, std::string* address,
                    bool* refused) override;
  // A unary call gets Envoy's answers: proxy_on_grpc_receive with the reply
  // on success (no metadata callbacks, no close), else only
  // proxy_on_grpc_close. A stream gets every callback, then the close.
  uint64_t dispatch_grpc(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, GrpcCallSpec spec) override;
  bool grpc_send(uint64_t call, std::string_view message, bool end) override { return grpc_.send(call, message, end); }
  bool grpc_close(uint64_t call) override { return grpc_.close(call); }
  bool grpc_cancel(uint64_t call) override { return grpc_.cancel(call); }

 private:
  client::HttpClient& http_;
  client::GrpcClient& grpc_;
  client::NameResolver& names_;
};

}  // namespace wg::wasm

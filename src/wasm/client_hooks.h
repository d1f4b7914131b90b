// What a worker's filters ask of it (WorkerHooks), answered with the
// worker's outbound HTTP client and name resolver (src/client): the thin
// adapter between Proxy-Wasm's http_call / resolve_lua and the client,
// which knows nothing of Wasm. Answers reach the filter through its VM
// (on_http_call_response, on_foreign_function) if the VM is still alive.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "client/http_client.h"
#include "client/name_resolver.h"
#include "wasm/proxy_wasm.h"

namespace wg::wasm {

class ClientHooks final : public WorkerHooks {
 public:
  ClientHooks(client::HttpClient& http, client::NameResolver& names) : http_(http), names_(names) {}

  // Targets: "ip:port", or a configured service or upstream (whatever the
  // client's TargetResolver knows); false when it does not resolve.
  bool dispatch_http_call(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, HttpCallSpec spec) override;
  bool resolve_name(std::shared_ptr<FilterVm> vm, uint32_t ctx, const std::string& name, std::string* address,
                    bool* refused) override;

 private:
  client::HttpClient& http_;
  client::NameResolver& names_;
};

}  // namespace wg::wasm

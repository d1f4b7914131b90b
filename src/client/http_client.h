// The HTTP calls Proxy-Wasm filters dispatch (proxy_http_call), run by the
// worker on its event loop: one connection per call (Connection: close),
// a deadline per call, and the answer handed back to the filter's context
// on a later loop turn, never from inside the filter's own callback.
//
// Targets: "ip:port" (or "localhost:port"), or the name of a configured
// service or upstream, whose balancer picks the peer. Other host names are
// refused at dispatch (no blocking DNS on a worker).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "http/message.h"
#include "http/parser.h"
#include "http/body_framer.h"
#include "client/name_resolver.h"
#include "wasm/proxy_wasm.h"

namespace wg::proxy {

class WorkerContext;

class HttpCalls final : public wasm::WorkerHooks {
 public:
  explicit HttpCalls(WorkerContext& worker) : worker_(worker), names_(worker) {}
  ~HttpCalls();

  bool dispatch_http_call(std::shared_ptr<wasm::FilterVm> vm, uint32_t ctx, uint32_t token,
                          wasm::HttpCallSpec spec) override;
  bool resolve_name(std::shared_ptr<wasm::FilterVm> vm, uint32_t ctx, const std::string& name, std::string* address,
                    bool* refused) override {
    return names_.resolve(std::move(vm), ctx, name, address, refused);
  }
  // Times out late calls and delivers finished ones.
  void run(uint64_t now_ms);

 private:
  struct Call final : core::IoHandler {
    HttpCalls* owner = nullptr;
    int fd = -1;
    std::weak_ptr<wasm::FilterVm> vm;
    uint32_t ctx = 0, token = 0;
    uint64_t deadline_ms = 0;
    uint32_t timeout_ms = 0;
    std::string target;  // for logs
    std::string out;  // request bytes not yet written
    size_t out_off = 0;
    std::string in;   // response bytes read
    http::HeadParser parser;
    http::Head head;
    bool head_done = false;
    http::BodyFramer framer;
    size_t body_from = 0;  // where the unclaimed body starts in `in`
    std::string trailer_text;  // a chunked answer's trailer section, as received
    bool finished = false;
    wasm::HttpCallResult result;
    void on_io(uint32_t events) override;
  };
  bool resolve(const std::string& target, sockaddr_storage* addr, socklen_t* len, std::string* host);
  void progress(Call& c, uint32_t events);
  bool read_response(Call& c);
  void finish(Call& c, bool ok);

  WorkerContext& worker_;
  std::vector<std::unique_ptr<Call>> calls_;
  NameResolutions names_;  // resolve_lua
};

}  // namespace wg::proxy

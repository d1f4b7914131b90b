// The minimal header-adding filter in C++ (sdk/proxy_wasm.hpp), for bench/
// (`wasmgate-cpp`, build/filters/bench_cpp.wasm): request header x-chain: A,
// response header x-chain-resp: A, nothing else — what nginx's two Lua
// handlers in the bench do. A root context with no configuration and one
// HTTP context per request, as any filter on this API has.
#include "proxy_wasm.hpp"

namespace {

class Root : public pw::RootContext {
 public:
  using RootContext::RootContext;
};

class AddChainHeaders : public pw::HttpContext {
 public:
  using HttpContext::HttpContext;

  pw::Action onRequestHeaders(uint32_t, bool) override {
    pw::addHeader(PW_REQUEST_HEADERS, "x-chain", "A");
    return PW_CONTINUE;
  }

  pw::Action onResponseHeaders(uint32_t, bool) override {
    pw::addHeader(PW_RESPONSE_HEADERS, "x-chain-resp", "A");
    return PW_CONTINUE;
  }
};

}  // namespace

PW_REGISTER(Root, AddChainHeaders)

/* The minimal header-adding filter in C (our sdk/proxy_wasm.h), for bench/
 * (`wasmgate-c`, build/filters/bench_c.wasm): adds request header x-chain: A
 * and response header x-chain-resp: A, like nginx's two Lua handlers in the
 * bench, and nothing else. Every SDK has one (filters/<sdk>/bench*). It exports
 * only the two header callbacks, so it is also the floor of what a filter
 * costs the gateway when the filter itself does next to nothing. */
#include "proxy_wasm.h"

PW_EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)ctx;
  (void)n;
  (void)eos;
  pw_add_header(PW_REQUEST_HEADERS, "x-chain", "A");
  return PW_CONTINUE;
}

PW_EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)ctx;
  (void)n;
  (void)eos;
  pw_add_header(PW_RESPONSE_HEADERS, "x-chain-resp", "A");
  return PW_CONTINUE;
}

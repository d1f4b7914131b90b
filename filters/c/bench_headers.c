/* The smallest useful filter, for bench/ ("cmin"): adds one request header
 * (x-chain: A) and one response header (x-chain-resp: A), the headers the
 * conformance filters add for the bench. It exports only the two header
 * callbacks, so it shows what a filter costs the gateway when the filter
 * itself does next to nothing. */
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

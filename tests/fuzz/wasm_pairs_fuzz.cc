// The Proxy-Wasm map format, as filters hand it to the host (headers for
// send_local_response, http_call, set_header_map_pairs): parsing any bytes
// must stay in bounds, and what parses must serialize back to the same
// pairs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wasm/pairs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  wg::wasm::HeaderList pairs;
  if (!wg::wasm::parse_pairs(in, &pairs)) {
    if (!pairs.empty()) abort();  // a refused map leaves nothing half-parsed
    return 0;
  }
  wg::wasm::HeaderList again;
  if (!wg::wasm::parse_pairs(wg::wasm::serialize_pairs(pairs), &again)) abort();
  if (again != pairs) abort();
  return 0;
}

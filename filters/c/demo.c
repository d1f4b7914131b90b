/* The demo and test filter in C (our sdk/).
 *
 * Configuration: a header value. The filter:
 * - adds "x-wasm-filter: <config>" to every request and response;
 * - answers /wasm/deny itself with 403 and "denied by wasm";
 * - traps on /wasm/trap, loops forever on /wasm/loop and grows memory
 *   without end on /wasm/hog (to show a bad filter fails only its request);
 * - refuses the configuration "reject" in on_configure.
 */
#include "proxy_wasm.h"

static char* header_value = 0;

PW_EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, uint32_t size) {
  (void)root;
  (void)size;
  free(header_value);
  header_value = pw_get_configuration(0);
  if (strcmp(header_value, "reject") == 0) return 0;
  if (header_value[0] == 0) {
    free(header_value);
    header_value = strdup("on");
  }
  return 1;
}

/* Matches anywhere in the path, so it works behind any route prefix. */
static int has_part(const char* s, const char* part) { return strstr(s, part) != 0; }

PW_EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)ctx;
  (void)n;
  (void)eos;
  char* path = pw_get_header(PW_REQUEST_HEADERS, ":path");
  if (path == 0) return PW_CONTINUE;
  if (has_part(path, "/wasm/deny")) {
    pw_send_response(403, "denied by wasm");
  } else if (has_part(path, "/wasm/trap")) {
    __builtin_trap();
  } else if (has_part(path, "/wasm/loop")) {
    for (volatile int i = 0;; ++i) {
    }
  } else if (has_part(path, "/wasm/hog")) {
    for (;;) {
      char* p = (char*)malloc(1 << 20);
      if (p == 0) __builtin_trap();
      memset(p, 1, 1 << 20);
    }
  } else {
    pw_add_header(PW_REQUEST_HEADERS, "x-wasm-filter", header_value);
    pw_remove_header(PW_REQUEST_HEADERS, "x-remove-me");
  }
  free(path);
  return PW_CONTINUE;
}

PW_EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)ctx;
  (void)n;
  (void)eos;
  pw_replace_header(PW_RESPONSE_HEADERS, "x-wasm-filter", header_value);
  return PW_CONTINUE;
}

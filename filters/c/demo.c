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

/* One instance serves every configuration of the filter (one root context
 * each), so the value is kept per root, and each request finds its root's. */
#define MAX_ROOTS 64
static uint32_t root_ids[MAX_ROOTS];
static char* root_values[MAX_ROOTS];
static uint32_t http_roots[4096];  /* context id % 4096 -> its root */

static const char* value_of(uint32_t root) {
  for (int i = 0; i < MAX_ROOTS; ++i) {
    if (root_ids[i] == root && root_values[i]) return root_values[i];
  }
  return "on";
}

PW_EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t ctx, uint32_t root) {
  if (root != 0) http_roots[ctx % 4096] = root;
}

PW_EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root, uint32_t size) {
  (void)size;
  char* value = pw_get_configuration(0);
  if (strcmp(value, "reject") == 0) {
    free(value);
    return 0;
  }
  if (value[0] == 0) {
    free(value);
    value = strdup("on");
  }
  for (int i = 0; i < MAX_ROOTS; ++i) {
    if (root_ids[i] == root || root_ids[i] == 0) {
      free(root_values[i]);
      root_ids[i] = root;
      root_values[i] = value;
      return 1;
    }
  }
  free(value);
  return 0;
}

/* Matches anywhere in the path, so it works behind any route prefix. */
static int has_part(const char* s, const char* part) { return strstr(s, part) != 0; }

PW_EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)n;
  (void)eos;
  const char* header_value = value_of(http_roots[ctx % 4096]);
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
  (void)n;
  (void)eos;
  const char* header_value = value_of(http_roots[ctx % 4096]);
  pw_replace_header(PW_RESPONSE_HEADERS, "x-wasm-filter", header_value);
  return PW_CONTINUE;
}

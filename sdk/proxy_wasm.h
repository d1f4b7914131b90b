/* wasmgate SDK for Proxy-Wasm filters in C (ABI 0.2.1), header-only.
 *
 * Build a filter with clang and wasi-libc:
 *   clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -I sdk \
 *     -Wl,--allow-undefined -Wl,--export-dynamic -o filter.wasm filter.c
 *
 * Define the callbacks you need with PW_EXPORT (any you leave out get the
 * host's default: continue). The helpers wrap the host functions; buffers
 * they return are malloc'ed and yours to free().
 */
#ifndef WASMGATE_PROXY_WASM_H
#define WASMGATE_PROXY_WASM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PW_EXPORT(name) __attribute__((export_name(#name)))
#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

typedef enum { PW_OK = 0, PW_NOT_FOUND = 1, PW_BAD_ARGUMENT = 2 } pw_status;
typedef enum { PW_CONTINUE = 0, PW_PAUSE = 1 } pw_action;
typedef enum { PW_TRACE, PW_DEBUG, PW_INFO, PW_WARN, PW_ERROR, PW_CRITICAL } pw_log_level;
typedef enum {
  PW_REQUEST_HEADERS = 0,
  PW_REQUEST_TRAILERS = 1,
  PW_RESPONSE_HEADERS = 2,
  PW_RESPONSE_TRAILERS = 3
} pw_map;
typedef enum { PW_VM_CONFIGURATION = 6, PW_PLUGIN_CONFIGURATION = 7 } pw_buffer;

/* Host functions (module "env"). */
PW_IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char* msg, size_t size);
PW_IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max, char** ptr, size_t* size);
PW_IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char* key, size_t key_size, char** ptr, size_t* size);
PW_IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char* key, size_t key_size, const char* value,
                                    size_t value_size);
PW_IMPORT(proxy_replace_header_map_value)
uint32_t proxy_replace_header_map_value(uint32_t map, const char* key, size_t key_size, const char* value,
                                        size_t value_size);
PW_IMPORT(proxy_remove_header_map_value)
uint32_t proxy_remove_header_map_value(uint32_t map, const char* key, size_t key_size);
PW_IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status, const char* details, size_t details_size, const char* body,
                                   size_t body_size, const char* headers, size_t headers_size, int32_t grpc_status);
PW_IMPORT(proxy_get_property)
uint32_t proxy_get_property(const char* path, size_t path_size, char** ptr, size_t* size);

/* The ABI marker and the allocator the host fills returned data into
 * (weak: the header may be included by several files of one filter). */
PW_EXPORT(proxy_abi_version_0_2_1) __attribute__((weak, used)) void pw_abi_marker(void) {}
PW_EXPORT(proxy_on_memory_allocate) __attribute__((weak, used)) void* pw_allocate(size_t size) {
  return malloc(size);
}

/* Helpers. */
static inline void pw_log(pw_log_level level, const char* msg) { proxy_log(level, msg, strlen(msg)); }

/* NUL-terminated copy of a header value, or NULL when absent. */
static inline char* pw_get_header(pw_map map, const char* name) {
  char* ptr = 0;
  size_t size = 0;
  if (proxy_get_header_map_value(map, name, strlen(name), &ptr, &size) != PW_OK) return 0;
  char* out = (char*)malloc(size + 1);
  if (size) memcpy(out, ptr, size);
  out[size] = 0;
  free(ptr);
  return out;
}

static inline void pw_add_header(pw_map map, const char* name, const char* value) {
  proxy_add_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline void pw_replace_header(pw_map map, const char* name, const char* value) {
  proxy_replace_header_map_value(map, name, strlen(name), value, strlen(value));
}

static inline void pw_remove_header(pw_map map, const char* name) {
  proxy_remove_header_map_value(map, name, strlen(name));
}

/* NUL-terminated copy of the filter's configuration (in on_configure). */
static inline char* pw_get_configuration(size_t* size_out) {
  char* ptr = 0;
  size_t size = 0;
  proxy_get_buffer_bytes(PW_PLUGIN_CONFIGURATION, 0, 0x7fffffff, &ptr, &size);
  char* out = (char*)malloc(size + 1);
  if (size) memcpy(out, ptr, size);
  out[size] = 0;
  if (ptr) free(ptr);
  if (size_out) *size_out = size;
  return out;
}

/* Answers the request directly with status and body (no extra headers). */
static inline void pw_send_response(uint32_t status, const char* body) {
  proxy_send_local_response(status, "", 0, body, strlen(body), 0, 0, -1);
}

#endif

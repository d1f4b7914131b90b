/* wasmgate SDK for Proxy-Wasm filters in C (ABI 0.2.1), header-only.
 *
 * Build a filter with clang and wasi-libc (as CMake does for filters/c/):
 *   clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror -I sdk \
 *     -Wl,--allow-undefined -o filter.wasm filter.c
 * (--allow-undefined and --export-dynamic are not needed, but harmless: the
 * host functions carry their import names and the callbacks their export
 * names, so the module imports and exports exactly what the filter uses.)
 *
 * Layout of this file:
 *   1. enums of the ABI (pw_status, pw_action, pw_log_level, pw_map,
 *      pw_buffer, pw_stream, pw_metric_type, pw_peer_type, pw_grpc_status);
 *   2. the host functions (module "env"), one per ABI 0.2.1 import, exactly
 *      as the ABI declares them, returning a pw_status value;
 *   3. the callbacks: prototypes with their export names, so a filter only
 *      defines the ones it needs (PW_EXPORT on the definition is optional);
 *      any it leaves out get the host's default (continue / true);
 *   4. the ABI marker and the allocator the host fills returned data into;
 *   5. helpers (pw_*), thin wrappers over the host functions.
 *
 * Helper conventions:
 * - Strings passed in are NUL-terminated C strings unless a size is given.
 * - Data handed back (char*) is a malloc'ed, NUL-terminated copy that the
 *   caller free()s; the size out-parameter (when there is one) excludes the
 *   NUL. A NULL result means "absent" (not found / not available).
 * - Header lists passed in are flat arrays of C strings, key then value:
 *     const char* h[] = {":status", "200", "x-a", "1"};   // 2 pairs
 *   pw_serialize_pairs() turns one into the ABI's map format (u32 count,
 *   then u32 key/value sizes, then the NUL-terminated keys and values).
 * - Header lists handed back are a pw_pairs, freed with pw_pairs_free().
 * - Property paths are written with dots ("request.path") and sent as the
 *   ABI wants (segments joined by NUL); pw_*_property_path() take explicit
 *   segments for names that contain dots.
 *
 * A minimal filter:
 *   #include "proxy_wasm.h"
 *   uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
 *     pw_add_header(PW_REQUEST_HEADERS, "x-hello", "world");
 *     return PW_CONTINUE;
 *   }
 */
#ifndef WASMGATE_PROXY_WASM_H
#define WASMGATE_PROXY_WASM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PW_EXPORT(name) __attribute__((export_name(#name)))
#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* ---------------------------------------------------------------- enums */

/* proxy_status_t: what every host function returns. */
typedef enum {
  PW_OK = 0,
  PW_NOT_FOUND = 1,
  PW_BAD_ARGUMENT = 2,
  PW_SERIALIZATION_FAILURE = 3,
  PW_PARSE_FAILURE = 4,
  PW_BAD_EXPRESSION = 5, /* Envoy only */
  PW_INVALID_MEMORY_ACCESS = 6,
  PW_EMPTY = 7, /* shared queue empty */
  PW_CAS_MISMATCH = 8,
  PW_RESULT_MISMATCH = 9, /* Envoy only */
  PW_INTERNAL_FAILURE = 10,
  PW_BROKEN_CONNECTION = 11, /* Envoy only: proxy_get_status after a failed call */
  PW_UNIMPLEMENTED = 12
} pw_status;

/* proxy_action_t: what the stream callbacks return. The ABI knows 0 and 1;
 * the names below give 1 its meaning per callback. Envoy also accepts the
 * richer values of its C++ SDK (PW_HEADERS_* / PW_DATA_*); other hosts
 * (wasmgate included) treat any non-zero value as PW_PAUSE. */
typedef enum {
  PW_CONTINUE = 0,
  PW_PAUSE = 1,
  PW_STOP_ITERATION = 1,           /* headers, trailers, TCP data */
  PW_STOP_ITERATION_AND_BUFFER = 1, /* body: keep buffering, call me again */
  PW_HEADERS_CONTINUE_AND_END_STREAM = 2,
  PW_HEADERS_STOP_ALL_ITERATION_AND_BUFFER = 3,
  PW_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK = 4,
  PW_DATA_STOP_ITERATION_AND_WATERMARK = 2,
  PW_DATA_STOP_ITERATION_NO_BUFFER = 3
} pw_action;

typedef enum { PW_TRACE = 0, PW_DEBUG = 1, PW_INFO = 2, PW_WARN = 3, PW_ERROR = 4, PW_CRITICAL = 5 } pw_log_level;

/* proxy_map_type_t: header maps. 4-7 are read-only. */
typedef enum {
  PW_REQUEST_HEADERS = 0,
  PW_REQUEST_TRAILERS = 1,
  PW_RESPONSE_HEADERS = 2,
  PW_RESPONSE_TRAILERS = 3,
  PW_GRPC_RECEIVE_INITIAL_METADATA = 4,
  PW_GRPC_RECEIVE_TRAILING_METADATA = 5,
  PW_HTTP_CALL_RESPONSE_HEADERS = 6,
  PW_HTTP_CALL_RESPONSE_TRAILERS = 7
} pw_map;

/* proxy_buffer_type_t. Each is available in its own callback: request body
 * in on_request_body, call response body in on_http_call_response, plugin
 * configuration in on_configure, and so on. */
typedef enum {
  PW_HTTP_REQUEST_BODY = 0,
  PW_HTTP_RESPONSE_BODY = 1,
  PW_DOWNSTREAM_DATA = 2,
  PW_UPSTREAM_DATA = 3,
  PW_HTTP_CALL_RESPONSE_BODY = 4,
  PW_GRPC_RECEIVE_BUFFER = 5,
  PW_VM_CONFIGURATION = 6,
  PW_PLUGIN_CONFIGURATION = 7,
  PW_FOREIGN_FUNCTION_ARGUMENTS = 8
} pw_buffer;

/* proxy_stream_type_t: for proxy_continue_stream / proxy_close_stream. */
typedef enum {
  PW_STREAM_REQUEST = 0,
  PW_STREAM_RESPONSE = 1,
  PW_STREAM_DOWNSTREAM = 2,
  PW_STREAM_UPSTREAM = 3
} pw_stream;

typedef enum { PW_METRIC_COUNTER = 0, PW_METRIC_GAUGE = 1, PW_METRIC_HISTOGRAM = 2 } pw_metric_type;

/* proxy_peer_type_t: for the TCP connection-close callbacks. */
typedef enum { PW_PEER_UNKNOWN = 0, PW_PEER_LOCAL = 1, PW_PEER_REMOTE = 2 } pw_peer_type;

/* gRPC status codes; PW_GRPC_NONE (-1) in proxy_send_local_response means
 * "not a gRPC response". */
typedef enum {
  PW_GRPC_NONE = -1,
  PW_GRPC_OK = 0,
  PW_GRPC_CANCELED = 1,
  PW_GRPC_UNKNOWN = 2,
  PW_GRPC_INVALID_ARGUMENT = 3,
  PW_GRPC_DEADLINE_EXCEEDED = 4,
  PW_GRPC_NOT_FOUND = 5,
  PW_GRPC_ALREADY_EXISTS = 6,
  PW_GRPC_PERMISSION_DENIED = 7,
  PW_GRPC_RESOURCE_EXHAUSTED = 8,
  PW_GRPC_FAILED_PRECONDITION = 9,
  PW_GRPC_ABORTED = 10,
  PW_GRPC_OUT_OF_RANGE = 11,
  PW_GRPC_UNIMPLEMENTED = 12,
  PW_GRPC_INTERNAL = 13,
  PW_GRPC_UNAVAILABLE = 14,
  PW_GRPC_DATA_LOSS = 15,
  PW_GRPC_UNAUTHENTICATED = 16
} pw_grpc_status;

/* ------------------------------------------------------- host functions
 * All return a pw_status value. Out-parameters char** / size_t* receive a
 * block the host allocated through proxy_on_memory_allocate (malloc): free()
 * it. An empty result is written as ptr 0, size 0. */

/* Logging and time. */
PW_IMPORT(proxy_log) uint32_t proxy_log(uint32_t level, const char* msg, size_t size);
PW_IMPORT(proxy_get_log_level) uint32_t proxy_get_log_level(uint32_t* level);
PW_IMPORT(proxy_get_current_time_nanoseconds) uint32_t proxy_get_current_time_nanoseconds(uint64_t* ns);
PW_IMPORT(proxy_set_tick_period_milliseconds) uint32_t proxy_set_tick_period_milliseconds(uint32_t period_ms);
/* Status of the last callout (gRPC close; Envoy: 11 "reset" after a failed HTTP call). */
PW_IMPORT(proxy_get_status) uint32_t proxy_get_status(uint32_t* code, char** msg, size_t* msg_size);

/* Contexts. */
PW_IMPORT(proxy_set_effective_context) uint32_t proxy_set_effective_context(uint32_t context_id);
PW_IMPORT(proxy_done) uint32_t proxy_done(void);

/* Buffers (pw_buffer). set: replace `size` bytes at `start` with data;
 * (0,0) prepends, (len,0) appends, (0,len) replaces everything. */
PW_IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t type, uint32_t start, uint32_t max, char** ptr, size_t* size);
PW_IMPORT(proxy_set_buffer_bytes)
uint32_t proxy_set_buffer_bytes(uint32_t type, uint32_t start, uint32_t size, const char* data, size_t data_size);
PW_IMPORT(proxy_get_buffer_status) uint32_t proxy_get_buffer_status(uint32_t type, size_t* length, uint32_t* flags);

/* Header maps (pw_map). Pairs use the ABI's serialized map format. */
PW_IMPORT(proxy_get_header_map_pairs) uint32_t proxy_get_header_map_pairs(uint32_t map, char** ptr, size_t* size);
PW_IMPORT(proxy_set_header_map_pairs) uint32_t proxy_set_header_map_pairs(uint32_t map, const char* ptr, size_t size);
PW_IMPORT(proxy_get_header_map_size) uint32_t proxy_get_header_map_size(uint32_t map, size_t* size);
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

/* Properties: path = segments joined by NUL (no trailing NUL). */
PW_IMPORT(proxy_get_property)
uint32_t proxy_get_property(const char* path, size_t path_size, char** ptr, size_t* size);
PW_IMPORT(proxy_set_property)
uint32_t proxy_set_property(const char* path, size_t path_size, const char* value, size_t value_size);

/* Stream control (pw_stream) and local responses. headers: serialized map;
 * grpc_status: PW_GRPC_NONE for plain HTTP. */
PW_IMPORT(proxy_continue_stream) uint32_t proxy_continue_stream(uint32_t stream);
PW_IMPORT(proxy_close_stream) uint32_t proxy_close_stream(uint32_t stream);
PW_IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status, const char* details, size_t details_size, const char* body,
                                   size_t body_size, const char* headers, size_t headers_size, int32_t grpc_status);

/* HTTP callouts: the answer comes later in proxy_on_http_call_response
 * (on the root context) with *token. headers must have :method, :path and
 * :authority. */
PW_IMPORT(proxy_http_call)
uint32_t proxy_http_call(const char* upstream, size_t upstream_size, const char* headers, size_t headers_size,
                         const char* body, size_t body_size, const char* trailers, size_t trailers_size,
                         uint32_t timeout_ms, uint32_t* token);

/* gRPC callouts (Envoy's): upstream is a service or upstream name or
 * "ip:port" (PW_PARSE_FAILURE when unknown); answers come in
 * proxy_on_grpc_* on the root context, a unary call's as the reply alone
 * or only the close (docs/behaviour.md). ngx_wasm_module traps. */
PW_IMPORT(proxy_grpc_call)
uint32_t proxy_grpc_call(const char* upstream, size_t upstream_size, const char* service, size_t service_size,
                         const char* method, size_t method_size, const char* initial_metadata,
                         size_t initial_metadata_size, const char* message, size_t message_size,
                         uint32_t timeout_ms, uint32_t* token);
PW_IMPORT(proxy_grpc_stream)
uint32_t proxy_grpc_stream(const char* upstream, size_t upstream_size, const char* service, size_t service_size,
                           const char* method, size_t method_size, const char* initial_metadata,
                           size_t initial_metadata_size, uint32_t* token);
PW_IMPORT(proxy_grpc_send) uint32_t proxy_grpc_send(uint32_t token, const char* message, size_t size, uint32_t end);
PW_IMPORT(proxy_grpc_cancel) uint32_t proxy_grpc_cancel(uint32_t token);
PW_IMPORT(proxy_grpc_close) uint32_t proxy_grpc_close(uint32_t token);

/* Shared data (per VM id, all workers): cas 0 writes unconditionally,
 * otherwise it must match the cas read or PW_CAS_MISMATCH. */
PW_IMPORT(proxy_get_shared_data)
uint32_t proxy_get_shared_data(const char* key, size_t key_size, char** value, size_t* value_size, uint32_t* cas);
PW_IMPORT(proxy_set_shared_data)
uint32_t proxy_set_shared_data(const char* key, size_t key_size, const char* value, size_t value_size, uint32_t cas);

/* Shared queues: the registering root gets proxy_on_queue_ready. */
PW_IMPORT(proxy_register_shared_queue)
uint32_t proxy_register_shared_queue(const char* name, size_t name_size, uint32_t* queue_id);
PW_IMPORT(proxy_resolve_shared_queue)
uint32_t proxy_resolve_shared_queue(const char* vm_id, size_t vm_id_size, const char* name, size_t name_size,
                                    uint32_t* queue_id);
PW_IMPORT(proxy_enqueue_shared_queue)
uint32_t proxy_enqueue_shared_queue(uint32_t queue_id, const char* value, size_t value_size);
PW_IMPORT(proxy_dequeue_shared_queue)
uint32_t proxy_dequeue_shared_queue(uint32_t queue_id, char** value, size_t* value_size);

/* Metrics (pw_metric_type). */
PW_IMPORT(proxy_define_metric)
uint32_t proxy_define_metric(uint32_t type, const char* name, size_t name_size, uint32_t* metric_id);
PW_IMPORT(proxy_increment_metric) uint32_t proxy_increment_metric(uint32_t metric_id, int64_t delta);
PW_IMPORT(proxy_record_metric) uint32_t proxy_record_metric(uint32_t metric_id, uint64_t value);
PW_IMPORT(proxy_get_metric) uint32_t proxy_get_metric(uint32_t metric_id, uint64_t* value);

/* Foreign functions registered by the host. */
PW_IMPORT(proxy_call_foreign_function)
uint32_t proxy_call_foreign_function(const char* name, size_t name_size, const char* args, size_t args_size,
                                     char** result, size_t* result_size);

/* ------------------------------------------------------------ callbacks
 * Define the ones you need; their export names are attached here. Stream
 * callbacks return a pw_action, the bool ones non-zero for success. */
#define PW_CALLBACK(name) __attribute__((export_name(#name)))
PW_CALLBACK(proxy_on_context_create) void proxy_on_context_create(uint32_t context_id, uint32_t parent_context_id);
PW_CALLBACK(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_context_id, uint32_t vm_config_size);
PW_CALLBACK(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_context_id, uint32_t config_size);
PW_CALLBACK(proxy_on_tick) void proxy_on_tick(uint32_t root_context_id);
PW_CALLBACK(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root_context_id, uint32_t queue_id);
PW_CALLBACK(proxy_on_foreign_function)
void proxy_on_foreign_function(uint32_t context_id, uint32_t function_id, uint32_t args_size);
PW_CALLBACK(proxy_on_new_connection) uint32_t proxy_on_new_connection(uint32_t context_id);
PW_CALLBACK(proxy_on_downstream_data)
uint32_t proxy_on_downstream_data(uint32_t context_id, uint32_t data_size, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_downstream_connection_close)
void proxy_on_downstream_connection_close(uint32_t context_id, uint32_t peer_type);
PW_CALLBACK(proxy_on_upstream_data)
uint32_t proxy_on_upstream_data(uint32_t context_id, uint32_t data_size, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_upstream_connection_close)
void proxy_on_upstream_connection_close(uint32_t context_id, uint32_t peer_type);
PW_CALLBACK(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context_id, uint32_t num_headers, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_request_body)
uint32_t proxy_on_request_body(uint32_t context_id, uint32_t body_size, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_request_trailers) uint32_t proxy_on_request_trailers(uint32_t context_id, uint32_t num_trailers);
PW_CALLBACK(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context_id, uint32_t num_headers, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_response_body)
uint32_t proxy_on_response_body(uint32_t context_id, uint32_t body_size, uint32_t end_of_stream);
PW_CALLBACK(proxy_on_response_trailers)
uint32_t proxy_on_response_trailers(uint32_t context_id, uint32_t num_trailers);
/* Delivered to the root context that dispatched the call; num_headers == 0
 * means the call failed (no response). */
PW_CALLBACK(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t root_context_id, uint32_t token, uint32_t num_headers, uint32_t body_size,
                                 uint32_t num_trailers);
PW_CALLBACK(proxy_on_grpc_receive_initial_metadata)
void proxy_on_grpc_receive_initial_metadata(uint32_t root_context_id, uint32_t token, uint32_t num_elements);
PW_CALLBACK(proxy_on_grpc_receive) void proxy_on_grpc_receive(uint32_t root_context_id, uint32_t token, uint32_t size);
PW_CALLBACK(proxy_on_grpc_receive_trailing_metadata)
void proxy_on_grpc_receive_trailing_metadata(uint32_t root_context_id, uint32_t token, uint32_t num_elements);
PW_CALLBACK(proxy_on_grpc_close) void proxy_on_grpc_close(uint32_t root_context_id, uint32_t token, uint32_t status);
PW_CALLBACK(proxy_on_done) uint32_t proxy_on_done(uint32_t context_id);
PW_CALLBACK(proxy_on_log) void proxy_on_log(uint32_t context_id);
PW_CALLBACK(proxy_on_delete) void proxy_on_delete(uint32_t context_id);
#undef PW_CALLBACK

/* --------------------------------------------- ABI marker and allocator
 * Weak: the header may be included by several files of one filter. The
 * host fills returned data into blocks from proxy_on_memory_allocate; the
 * helpers free() and realloc() them, so it must stay malloc. */
PW_EXPORT(proxy_abi_version_0_2_1) __attribute__((weak, used)) void pw_abi_marker(void) {}
PW_EXPORT(proxy_on_memory_allocate) __attribute__((weak, used)) void* pw_allocate(size_t size) {
  return malloc(size);
}

/* -------------------------------------------------------------- helpers */

/* Turns a host block (ptr, size) into a NUL-terminated malloc'ed string;
 * frees nothing else. Used by every helper that hands data back. */
static inline char* pw_own(char* ptr, size_t size) {
  char* out = (char*)realloc(ptr, size + 1);
  if (out == 0) {
    free(ptr);
    return 0;
  }
  out[size] = 0;
  return out;
}

/* Dotted path "a.b.c" to the ABI's NUL-joined form (same length). */
static inline char* pw_property_path(const char* dotted, size_t* size_out) {
  size_t n = strlen(dotted);
  char* p = (char*)malloc(n + 1);
  for (size_t i = 0; i <= n; ++i) p[i] = dotted[i] == '.' ? 0 : dotted[i];
  *size_out = n;
  return p;
}

/* Segments to the ABI's NUL-joined form. */
static inline char* pw_property_path_join(const char* const* segments, size_t count, size_t* size_out) {
  size_t n = 0;
  for (size_t i = 0; i < count; ++i) n += strlen(segments[i]) + 1;
  char* p = (char*)malloc(n + 1);
  size_t pos = 0;
  for (size_t i = 0; i < count; ++i) {
    size_t l = strlen(segments[i]);
    memcpy(p + pos, segments[i], l);
    pos += l;
    p[pos++] = 0;
  }
  *size_out = pos ? pos - 1 : 0;
  return p;
}

/* Decimal text of n, written at the end of buf; returns where it starts
 * (NUL-terminated). No printf needed (it adds ~60 KB to a module). */
static inline const char* pw_itoa(int64_t n, char buf[24]) {
  char* p = buf + 23;
  uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
  *p = 0;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (n < 0) *--p = '-';
  return p;
}

/* --- logging and time */
static inline void pw_log(pw_log_level level, const char* msg) { proxy_log(level, msg, strlen(msg)); }

/* The host's log level (PW_INFO if it cannot tell). */
static inline pw_log_level pw_get_log_level(void) {
  uint32_t level = PW_INFO;
  if (proxy_get_log_level(&level) != PW_OK || level > PW_CRITICAL) level = PW_INFO;
  return (pw_log_level)level;
}

static inline uint64_t pw_now_ns(void) {
  uint64_t ns = 0;
  proxy_get_current_time_nanoseconds(&ns);
  return ns;
}

/* 0 stops ticks. proxy_on_tick runs on the calling root context. */
static inline pw_status pw_set_tick_period(uint32_t period_ms) {
  return (pw_status)proxy_set_tick_period_milliseconds(period_ms);
}

/* --- buffers */

/* Up to max bytes of a buffer from start; NULL when not available now. */
static inline char* pw_get_buffer(pw_buffer type, size_t start, size_t max, size_t* size_out) {
  char* ptr = 0;
  size_t size = 0;
  if (size_out) *size_out = 0;
  if (proxy_get_buffer_bytes(type, (uint32_t)start, (uint32_t)max, &ptr, &size) != PW_OK) {
    free(ptr);
    return 0;
  }
  if (size_out) *size_out = size;
  return pw_own(ptr, size);
}

/* Replaces size bytes at start with data (see proxy_set_buffer_bytes). */
static inline pw_status pw_set_buffer(pw_buffer type, size_t start, size_t size, const char* data, size_t data_size) {
  return (pw_status)proxy_set_buffer_bytes(type, (uint32_t)start, (uint32_t)size, data, data_size);
}

/* NUL-terminated copy of the filter's configuration (in on_configure);
 * never NULL: an absent configuration is "". */
static inline char* pw_get_configuration(size_t* size_out) {
  char* out = pw_get_buffer(PW_PLUGIN_CONFIGURATION, 0, 0x7fffffff, size_out);
  if (out == 0) out = (char*)calloc(1, 1);
  return out;
}

/* The VM configuration (in on_vm_start); never NULL. */
static inline char* pw_get_vm_configuration(size_t* size_out) {
  char* out = pw_get_buffer(PW_VM_CONFIGURATION, 0, 0x7fffffff, size_out);
  if (out == 0) out = (char*)calloc(1, 1);
  return out;
}

/* --- header maps */

/* NUL-terminated copy of a header value, or NULL when absent. */
static inline char* pw_get_header(pw_map map, const char* name) {
  char* ptr = 0;
  size_t size = 0;
  if (proxy_get_header_map_value(map, name, strlen(name), &ptr, &size) != PW_OK) {
    free(ptr);
    return 0;
  }
  return pw_own(ptr, size);
}

/* Adds a value (keeps the existing ones). */
static inline pw_status pw_add_header(pw_map map, const char* name, const char* value) {
  return (pw_status)proxy_add_header_map_value(map, name, strlen(name), value, strlen(value));
}

/* Sets the header to this one value (adds it when absent). */
static inline pw_status pw_replace_header(pw_map map, const char* name, const char* value) {
  return (pw_status)proxy_replace_header_map_value(map, name, strlen(name), value, strlen(value));
}

/* Removes every value of the header (OK when absent). */
static inline pw_status pw_remove_header(pw_map map, const char* name) {
  return (pw_status)proxy_remove_header_map_value(map, name, strlen(name));
}

/* One entry of a pw_pairs; key and value are NUL-terminated. */
typedef struct {
  const char* key;
  size_t key_size;
  const char* value;
  size_t value_size;
} pw_pair;

/* A parsed header map; pairs point into data. Free with pw_pairs_free. */
typedef struct {
  size_t count;
  pw_pair* pairs;
  char* data;
} pw_pairs;

static inline void pw_pairs_free(pw_pairs* p) {
  free(p->pairs);
  free(p->data);
  p->pairs = 0;
  p->data = 0;
  p->count = 0;
}

/* Parses the ABI's map format; takes ownership of data (malloc'ed).
 * Returns 0 (and an empty *out) when data is malformed. */
static inline int pw_parse_pairs(char* data, size_t size, pw_pairs* out) {
  out->count = 0;
  out->pairs = 0;
  out->data = data;
  if (size < 4) return size == 0 || (size == 1 && data[0] == 0);
  uint32_t n;
  memcpy(&n, data, 4);
  if ((uint64_t)n * 8 + 4 > size) return 0;
  pw_pair* pairs = (pw_pair*)calloc(n ? n : 1, sizeof(pw_pair));
  size_t pos = 4 + (size_t)n * 8;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t kl, vl;
    memcpy(&kl, data + 4 + i * 8, 4);
    memcpy(&vl, data + 8 + i * 8, 4);
    if ((uint64_t)pos + kl + vl + 2 > size || data[pos + kl] != 0 || data[pos + kl + 1 + vl] != 0) {
      free(pairs);
      return 0;
    }
    pairs[i].key = data + pos;
    pairs[i].key_size = kl;
    pos += kl + 1;
    pairs[i].value = data + pos;
    pairs[i].value_size = vl;
    pos += vl + 1;
  }
  out->count = n;
  out->pairs = pairs;
  return 1;
}

/* The whole map (empty when unavailable). */
static inline pw_status pw_get_header_pairs(pw_map map, pw_pairs* out) {
  char* ptr = 0;
  size_t size = 0;
  uint32_t st = proxy_get_header_map_pairs(map, &ptr, &size);
  if (st != PW_OK) {
    free(ptr);
    ptr = 0;
    size = 0;
  }
  pw_parse_pairs(ptr, size, out);
  return (pw_status)st;
}

/* Serializes n_pairs key/value pairs (a flat array: key0, value0, key1, ...)
 * into the ABI's map format; malloc'ed, *size_out gets its size. */
static inline char* pw_serialize_pairs(const char* const* kv, size_t n_pairs, size_t* size_out) {
  size_t size = 4;
  for (size_t i = 0; i < 2 * n_pairs; ++i) size += 4 + strlen(kv[i]) + 1;
  char* out = (char*)malloc(size);
  uint32_t n = (uint32_t)n_pairs;
  memcpy(out, &n, 4);
  size_t pos = 4 + 8 * n_pairs;
  for (size_t i = 0; i < 2 * n_pairs; ++i) {
    uint32_t l = (uint32_t)strlen(kv[i]);
    memcpy(out + 4 + 4 * i, &l, 4);
    memcpy(out + pos, kv[i], l + 1);
    pos += l + 1;
  }
  *size_out = size;
  return out;
}

/* Replaces the whole map with n_pairs pairs (flat key/value array). */
static inline pw_status pw_set_header_pairs(pw_map map, const char* const* kv, size_t n_pairs) {
  size_t size = 0;
  char* data = pw_serialize_pairs(kv, n_pairs, &size);
  pw_status st = (pw_status)proxy_set_header_map_pairs(map, data, size);
  free(data);
  return st;
}

/* --- stream control and local responses */
static inline pw_status pw_continue_request(void) { return (pw_status)proxy_continue_stream(PW_STREAM_REQUEST); }
static inline pw_status pw_continue_response(void) { return (pw_status)proxy_continue_stream(PW_STREAM_RESPONSE); }
static inline pw_status pw_close_stream(pw_stream stream) { return (pw_status)proxy_close_stream(stream); }

/* Answers the request directly: status, body (body_size bytes), n_headers
 * extra headers (flat key/value array, may be NULL when 0). Return
 * PW_PAUSE from the callback that calls it. */
static inline pw_status pw_send_local_response(uint32_t status, const char* body, size_t body_size,
                                               const char* const* headers, size_t n_headers) {
  size_t hsize = 0;
  char* h = pw_serialize_pairs(headers, n_headers, &hsize);
  pw_status st =
      (pw_status)proxy_send_local_response(status, "", 0, body, body_size, h, hsize, PW_GRPC_NONE);
  free(h);
  return st;
}

/* Answers the request directly with status and body (no extra headers). */
static inline void pw_send_response(uint32_t status, const char* body) {
  proxy_send_local_response(status, "", 0, body, strlen(body), 0, 0, PW_GRPC_NONE);
}

/* --- HTTP callouts */

/* Dispatches a call to upstream (host:port or an upstream/service name)
 * with n_headers headers (flat array; include :method, :path, :authority),
 * an optional body (NULL/0) and n_trailers trailers. *token identifies
 * the answer in proxy_on_http_call_response. */
static inline pw_status pw_http_call(const char* upstream, const char* const* headers, size_t n_headers,
                                     const char* body, size_t body_size, const char* const* trailers,
                                     size_t n_trailers, uint32_t timeout_ms, uint32_t* token) {
  size_t hsize = 0, tsize = 0;
  char* h = pw_serialize_pairs(headers, n_headers, &hsize);
  char* t = pw_serialize_pairs(trailers, n_trailers, &tsize);
  uint32_t tok = 0;
  pw_status st = (pw_status)proxy_http_call(upstream, strlen(upstream), h, hsize, body ? body : "", body_size, t,
                                            tsize, timeout_ms, &tok);
  free(h);
  free(t);
  if (token) *token = tok;
  return st;
}

/* In proxy_on_http_call_response: makes the following host calls act on
 * the HTTP context that dispatched the call. */
static inline pw_status pw_set_effective_context(uint32_t context_id) {
  return (pw_status)proxy_set_effective_context(context_id);
}

/* --- properties */

/* NUL-terminated copy of the property at a dotted path ("request.path"),
 * or NULL when missing. Values are raw bytes (numbers may be binary). */
/* Looks up an encoded path (segments joined by NUL) and frees it. */
static inline char* pw_get_property_encoded(char* path, size_t psize, size_t* size_out) {
  char* ptr = 0;
  size_t size = 0;
  uint32_t st = proxy_get_property(path, psize, &ptr, &size);
  free(path);
  if (size_out) *size_out = st == PW_OK ? size : 0;
  if (st != PW_OK) {
    free(ptr);
    return 0;
  }
  return pw_own(ptr, size);
}

static inline char* pw_get_property(const char* dotted_path, size_t* size_out) {
  size_t psize = 0;
  char* path = pw_property_path(dotted_path, &psize);
  return pw_get_property_encoded(path, psize, size_out);
}

/* The same with explicit path segments. */
static inline char* pw_get_property_path(const char* const* segments, size_t count, size_t* size_out) {
  size_t psize = 0;
  char* path = pw_property_path_join(segments, count, &psize);
  return pw_get_property_encoded(path, psize, size_out);
}

static inline pw_status pw_set_property(const char* dotted_path, const char* value, size_t value_size) {
  size_t psize = 0;
  char* path = pw_property_path(dotted_path, &psize);
  pw_status st = (pw_status)proxy_set_property(path, psize, value, value_size);
  free(path);
  return st;
}

static inline pw_status pw_set_property_path(const char* const* segments, size_t count, const char* value,
                                             size_t value_size) {
  size_t psize = 0;
  char* path = pw_property_path_join(segments, count, &psize);
  pw_status st = (pw_status)proxy_set_property(path, psize, value, value_size);
  free(path);
  return st;
}

/* --- shared data */

/* *value_out gets a NUL-terminated copy (or NULL), *cas_out the CAS to
 * pass to pw_set_shared_data. PW_NOT_FOUND when the key is missing. */
static inline pw_status pw_get_shared_data(const char* key, char** value_out, size_t* size_out, uint32_t* cas_out) {
  char* ptr = 0;
  size_t size = 0;
  uint32_t cas = 0;
  uint32_t st = proxy_get_shared_data(key, strlen(key), &ptr, &size, &cas);
  if (st != PW_OK) {
    free(ptr);
    ptr = 0;
    size = 0;
    cas = 0;
  }
  if (value_out) {
    *value_out = st == PW_OK ? pw_own(ptr, size) : 0;
  } else {
    free(ptr);
  }
  if (size_out) *size_out = size;
  if (cas_out) *cas_out = cas;
  return (pw_status)st;
}

static inline pw_status pw_set_shared_data(const char* key, const char* value, size_t size, uint32_t cas) {
  return (pw_status)proxy_set_shared_data(key, strlen(key), value, size, cas);
}

/* Adds delta to a decimal counter kept in shared data (missing = 0) with
 * get/set-with-CAS, retrying on PW_CAS_MISMATCH; *new_value gets the
 * result. */
static inline pw_status pw_shared_counter_add(const char* key, int64_t delta, int64_t* new_value) {
  for (;;) {
    char* value = 0;
    uint32_t cas = 0;
    pw_status st = pw_get_shared_data(key, &value, 0, &cas);
    if (st != PW_OK && st != PW_NOT_FOUND) return st;
    int64_t n = value ? strtoll(value, 0, 10) : 0;
    free(value);
    n += delta;
    char buf[24];
    const char* text = pw_itoa(n, buf);
    st = pw_set_shared_data(key, text, strlen(text), cas);
    if (st == PW_CAS_MISMATCH) continue;
    if (st == PW_OK && new_value) *new_value = n;
    return st;
  }
}

/* --- shared queues */
static inline pw_status pw_register_shared_queue(const char* name, uint32_t* queue_id) {
  return (pw_status)proxy_register_shared_queue(name, strlen(name), queue_id);
}

/* vm_id "" means this filter's own VM id. */
static inline pw_status pw_resolve_shared_queue(const char* vm_id, const char* name, uint32_t* queue_id) {
  return (pw_status)proxy_resolve_shared_queue(vm_id, strlen(vm_id), name, strlen(name), queue_id);
}

static inline pw_status pw_enqueue_shared_queue(uint32_t queue_id, const char* value, size_t size) {
  return (pw_status)proxy_enqueue_shared_queue(queue_id, value, size);
}

/* *value_out gets a NUL-terminated copy; PW_EMPTY when nothing is queued. */
static inline pw_status pw_dequeue_shared_queue(uint32_t queue_id, char** value_out, size_t* size_out) {
  char* ptr = 0;
  size_t size = 0;
  uint32_t st = proxy_dequeue_shared_queue(queue_id, &ptr, &size);
  if (st != PW_OK) {
    free(ptr);
    ptr = 0;
    size = 0;
  }
  if (value_out) {
    *value_out = st == PW_OK ? pw_own(ptr, size) : 0;
  } else {
    free(ptr);
  }
  if (size_out) *size_out = size;
  return (pw_status)st;
}

/* --- metrics */
static inline pw_status pw_define_metric(pw_metric_type type, const char* name, uint32_t* metric_id) {
  return (pw_status)proxy_define_metric(type, name, strlen(name), metric_id);
}
static inline pw_status pw_increment_metric(uint32_t metric_id, int64_t delta) {
  return (pw_status)proxy_increment_metric(metric_id, delta);
}
static inline pw_status pw_record_metric(uint32_t metric_id, uint64_t value) {
  return (pw_status)proxy_record_metric(metric_id, value);
}
static inline pw_status pw_get_metric(uint32_t metric_id, uint64_t* value) {
  return (pw_status)proxy_get_metric(metric_id, value);
}

/* --- foreign functions */

/* *result_out gets a NUL-terminated copy of the result (or NULL). */
static inline pw_status pw_call_foreign_function(const char* name, const char* args, size_t args_size,
                                                 char** result_out, size_t* size_out) {
  char* ptr = 0;
  size_t size = 0;
  uint32_t st = proxy_call_foreign_function(name, strlen(name), args, args_size, &ptr, &size);
  if (result_out) {
    *result_out = st == PW_OK ? pw_own(ptr, size) : 0;
    if (st != PW_OK) free(ptr);
  } else {
    free(ptr);
  }
  if (size_out) *size_out = st == PW_OK ? size : 0;
  return (pw_status)st;
}

#ifdef __cplusplus
}
#endif

#endif

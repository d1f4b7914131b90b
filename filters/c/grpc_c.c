/* The test filter for gRPC callouts (tests/integration/test_grpc_callouts.py),
 * in C against the raw ABI (our sdk/). Each request says what to do in its
 * headers:
 *   x-grpc-mode      unary | stream | cancel
 *   x-grpc-upstream  the callout's upstream ("host:port", a service or upstream name)
 *   x-grpc-method    the method of service test.Echo
 *   x-grpc-message   the request message; for a stream, messages separated by ','
 *   x-grpc-timeout   a unary call's timeout in ms (default 5000)
 * The call carries initial metadata "x-md: from-filter". The request waits
 * until the call ends, then goes upstream with what the filter saw:
 *   x-grpc-open       the status proxy_grpc_call / proxy_grpc_stream answered
 *   x-grpc-callbacks  the callbacks in order: I initial metadata, M message,
 *                     T trailing metadata, C close
 *   x-grpc-reply      the messages received, joined by '|' (the first 2 KiB)
 *   x-grpc-reply-size the bytes of all messages received
 *   x-grpc-initial    initial metadata "x-initial"; x-grpc-trailing: trailing "x-trailing"
 *   x-grpc-status     the gRPC status (0 for a unary reply); x-grpc-status-message: proxy_get_status's message
 *   x-grpc-cancel     (cancel mode) cancel's status, then a send after it
 */
#include "proxy_wasm.h"

#define SLOTS 256
typedef struct {
  uint32_t ctx, token;
  int unary;
  int64_t reply_bytes;
  char callbacks[64];
  char reply[2048];
  char initial[128], trailing[128];
} call_state;
static call_state calls[SLOTS];

static call_state* by_ctx(uint32_t ctx) { return &calls[ctx % SLOTS]; }
static call_state* by_token(uint32_t token) {
  for (int i = 0; i < SLOTS; ++i) {
    if (calls[i].token == token && calls[i].ctx != 0) return &calls[i];
  }
  return 0;
}

static void note(call_state* c, char what) {
  size_t n = strlen(c->callbacks);
  if (n + 1 < sizeof c->callbacks) c->callbacks[n] = what;
}

static void append(char* dst, size_t cap, const char* sep, const char* src, size_t len) {
  size_t n = strlen(dst);
  if (n != 0 && sep) {
    size_t s = strlen(sep);
    if (n + s < cap) memcpy(dst + n, sep, s + 1), n += s;
  }
  if (n + len >= cap) len = cap - n - 1;
  memcpy(dst + n, src, len);
  dst[n + len] = 0;
}

static void add_number(const char* name, int64_t v) {
  char buf[24];
  pw_add_header(PW_REQUEST_HEADERS, name, pw_itoa(v, buf));
}

static char* header_or(const char* name, const char* fallback) {
  char* v = pw_get_header(PW_REQUEST_HEADERS, name);
  if (v == 0 || v[0] == 0) {
    free(v);
    v = strdup(fallback);
  }
  return v;
}

static const char* const kMetadata[] = {"x-md", "from-filter"};

PW_EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t ctx, uint32_t n, uint32_t eos) {
  (void)n;
  (void)eos;
  char* mode = header_or("x-grpc-mode", "");
  if (mode[0] == 0) {
    free(mode);
    return PW_CONTINUE;
  }
  char* upstream = header_or("x-grpc-upstream", "");
  char* method = header_or("x-grpc-method", "Unary");
  char* message = header_or("x-grpc-message", "");
  char* timeout = header_or("x-grpc-timeout", "5000");
  size_t md_size = 0;
  char* md = pw_serialize_pairs(kMetadata, 1, &md_size);
  call_state* c = by_ctx(ctx);
  memset(c, 0, sizeof *c);
  uint32_t token = 0, st;
  uint32_t action = PW_PAUSE;
  if (strcmp(mode, "unary") == 0) {
    st = proxy_grpc_call(upstream, strlen(upstream), "test.Echo", 9, method, strlen(method), md, md_size, message,
                         strlen(message), (uint32_t)atoi(timeout), &token);
  } else {
    st = proxy_grpc_stream(upstream, strlen(upstream), "test.Echo", 9, method, strlen(method), md, md_size, &token);
    if (st == PW_OK && strcmp(mode, "cancel") == 0) {
      uint32_t cancel = proxy_grpc_cancel(token);
      uint32_t after = proxy_grpc_send(token, "x", 1, 1);
      char text[32], a[24], b[24];
      const char* first = pw_itoa(cancel, a);
      const char* second = pw_itoa(after, b);
      text[0] = 0;
      append(text, sizeof text, 0, first, strlen(first));
      append(text, sizeof text, " ", second, strlen(second));
      pw_add_header(PW_REQUEST_HEADERS, "x-grpc-cancel", text);
      action = PW_CONTINUE;
    } else if (st == PW_OK) {
      /* Each message of the list, the last one half-closing the stream. */
      char* p = message;
      for (;;) {
        char* comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        proxy_grpc_send(token, p, len, comma == 0);
        if (comma == 0) break;
        p = comma + 1;
      }
    }
  }
  add_number("x-grpc-open", st);
  if (st == PW_OK && action == PW_PAUSE) {
    c->ctx = ctx;
    c->token = token;
    c->unary = strcmp(mode, "unary") == 0;
  } else {
    action = PW_CONTINUE;
  }
  free(mode), free(upstream), free(method), free(message), free(timeout), free(md);
  return action;
}

/* The value of `name` in gRPC metadata map `map`, into dst. */
static void metadata_value(pw_map map, const char* name, char* dst, size_t cap) {
  char* v = pw_get_header(map, name);
  if (v) append(dst, cap, 0, v, strlen(v));
  free(v);
}

/* The call is over: what the filter saw goes upstream, the request resumes. */
static void finish(call_state* c, uint32_t status, int with_message) {
  pw_set_effective_context(c->ctx);
  pw_add_header(PW_REQUEST_HEADERS, "x-grpc-callbacks", c->callbacks);
  pw_add_header(PW_REQUEST_HEADERS, "x-grpc-reply", c->reply);
  if (c->initial[0]) pw_add_header(PW_REQUEST_HEADERS, "x-grpc-initial", c->initial);
  if (c->trailing[0]) pw_add_header(PW_REQUEST_HEADERS, "x-grpc-trailing", c->trailing);
  add_number("x-grpc-status", status);
  add_number("x-grpc-reply-size", c->reply_bytes);
  if (with_message) {
    uint32_t code = 0;
    char* msg = 0;
    size_t size = 0;
    if (proxy_get_status(&code, &msg, &size) == PW_OK) {
      char* text = pw_own(msg, size);
      pw_add_header(PW_REQUEST_HEADERS, "x-grpc-status-message", text ? text : "");
      free(text);
    }
  }
  c->ctx = 0;
  c->token = 0;
  pw_continue_request();
}

PW_EXPORT(proxy_on_grpc_receive_initial_metadata)
void proxy_on_grpc_receive_initial_metadata(uint32_t root, uint32_t token, uint32_t n) {
  (void)root, (void)n;
  call_state* c = by_token(token);
  if (c == 0) return;
  note(c, 'I');
  metadata_value(PW_GRPC_RECEIVE_INITIAL_METADATA, "x-initial", c->initial, sizeof c->initial);
}

PW_EXPORT(proxy_on_grpc_receive) void proxy_on_grpc_receive(uint32_t root, uint32_t token, uint32_t size) {
  (void)root;
  call_state* c = by_token(token);
  if (c == 0) return;
  note(c, 'M');
  size_t got = 0;
  char* msg = pw_get_buffer(PW_GRPC_RECEIVE_BUFFER, 0, size, &got);
  if (msg) append(c->reply, sizeof c->reply, "|", msg, got);
  c->reply_bytes += (int64_t)got;
  free(msg);
  /* A unary call's reply ends it (no close follows); a stream goes on. */
  if (c->unary) finish(c, 0, 0);
}

PW_EXPORT(proxy_on_grpc_receive_trailing_metadata)
void proxy_on_grpc_receive_trailing_metadata(uint32_t root, uint32_t token, uint32_t n) {
  (void)root, (void)n;
  call_state* c = by_token(token);
  if (c == 0) return;
  note(c, 'T');
  metadata_value(PW_GRPC_RECEIVE_TRAILING_METADATA, "x-trailing", c->trailing, sizeof c->trailing);
}

PW_EXPORT(proxy_on_grpc_close) void proxy_on_grpc_close(uint32_t root, uint32_t token, uint32_t status) {
  (void)root;
  call_state* c = by_token(token);
  if (c == 0) return;
  note(c, 'C');
  finish(c, status, 1);
}

/* The conformance filter in C (our sdk/): does exactly what
 * filters/CONFORMANCE.md says, selected by the request header x-test.
 *
 * State: one struct per context (root or HTTP) in a linked list, found by
 * context id. Several roots (one per configuration in a chain) can share
 * this instance, so everything per-filter hangs off the root's struct.
 */
#include <stdio.h>

#include "proxy_wasm.h"

enum test {
  T_NONE,
  T_HEADERS,
  T_REQ_BODY,
  T_RESP_BODY,
  T_LOCAL_REQ,
  T_LOCAL_RESP,
  T_HTTP_CALL,
  T_HTTP_CALL2,
  T_SHARED,
  T_QUEUE,
  T_QUEUE_STAT,
  T_TICK_STAT,
  T_METRICS,
  T_PROPERTIES,
  T_LOG,
  T_TRAP,
  T_LOOP,
  T_HOG,
  T_FOREIGN,
  T_VM_STATE,
  T_BAD_HEADER,
  T_TRAILERS,
  T_RESOLVE,
  T_GRPC,
  T_POSTPONE,
  T_PLUGIN,
  T_HEADER_NAMES,
  T_REROUTE,
  T_VM_STARTS
};

static const char* const test_names[] = {"",       "headers",   "req-body", "resp-body",  "local-req", "local-resp",
                                         "http-call", "http-call2", "shared", "queue",   "queue-stat", "tick-stat",
                                         "metrics", "properties", "log",     "trap",      "loop",       "hog",
                                         "foreign", "vm-state", "bad-header", "trailers", "resolve", "grpc",
                                         "postpone",
                                         "plugin", "header-names", "reroute", "vm-starts"};

typedef struct ctx {
  uint32_t id;
  uint32_t root_id; /* 0 for a root context */
  struct ctx* root; /* HTTP contexts: their root's struct */
  struct ctx* next;

  /* root */
  char* tag;
  uint32_t m_requests, m_gauge, m_histogram;
  uint32_t queue;
  uint32_t postponed[8]; /* postpone: HTTP contexts waiting for the next tick */
  int postponed_count;

  /* HTTP */
  enum test test;
  char* read_me;      /* headers: x-read-me or "none" */
  char* counter;      /* shared: the new value */
  int calls_pending;  /* http-call(2): answers still to come */
  uint32_t tokens[2]; /* http-call(2): tokens of calls 1 and 2 */
  char* call_status[2];
  char* call_body;
  char* call_trailer; /* http-call: the answer's x-call-t trailer, if any */
  char* call_failure; /* http-call: proxy_get_status after a call that got no answer */
  int vm_requests;    /* vm-state: this instance's count when the request came */
  int req_trailers;   /* trailers: how many request trailers came */
  int req_body_eos;   /* trailers: end_of_stream of the last request body callback */
  char* pause_target; /* trailers: x-pause-trailers, where to send the call that resumes them */
  int paused_phase;   /* trailers: 1 request, 2 response trailers wait for that call */
} ctx;

/* vm-state: requests this instance has seen (what isolation modes change). */
static int vm_requests = 0;
/* plugin: the vm_configuration_size on_vm_start was given. */
static uint32_t vm_config_size = 0;

static ctx* contexts = 0;

static ctx* find(uint32_t id) {
  for (ctx* c = contexts; c; c = c->next) {
    if (c->id == id) return c;
  }
  return 0;
}

static const char* tag_of(ctx* c) {
  ctx* r = c ? (c->root_id ? c->root : c) : 0;
  return r && r->tag ? r->tag : "-";
}

static char* concat3(const char* a, const char* b, size_t b_size, const char* c) {
  size_t la = strlen(a), lc = strlen(c);
  char* out = (char*)malloc(la + b_size + lc + 1);
  memcpy(out, a, la);
  if (b_size) memcpy(out + la, b, b_size);
  memcpy(out + la + b_size, c, lc + 1);
  return out;
}

PW_EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {
  ctx* c = (ctx*)calloc(1, sizeof(ctx));
  c->id = id;
  c->root_id = parent;
  c->root = parent ? find(parent) : 0;
  c->next = contexts;
  contexts = c;
}

PW_EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) {
  for (ctx** p = &contexts; *p; p = &(*p)->next) {
    ctx* c = *p;
    if (c->id != id) continue;
    *p = c->next;
    free(c->tag);
    free(c->read_me);
    free(c->counter);
    free(c->call_status[0]);
    free(c->call_status[1]);
    free(c->call_body);
    free(c->call_trailer);
    free(c->call_failure);
    free(c->pause_target);
    free(c);
    return;
  }
}

/* vm-starts: every start-up counts in shared data, so a test sees how many
 * ran against the live shared data. */
PW_EXPORT(proxy_on_vm_start) uint32_t proxy_on_vm_start(uint32_t root_id, uint32_t size) {
  (void)root_id;
  vm_config_size = size;
  pw_shared_counter_add("vm-starts", 1, 0);
  pw_log(PW_INFO, "conformance vm start");
  return 1;
}

PW_EXPORT(proxy_on_configure) uint32_t proxy_on_configure(uint32_t root_id, uint32_t size) {
  (void)size;
  ctx* r = find(root_id);
  if (r == 0) return 0;
  free(r->tag);
  r->tag = pw_get_configuration(0);
  if (r->tag[0] == 0) {
    free(r->tag);
    r->tag = strdup("-");
  }
  pw_define_metric(PW_METRIC_COUNTER, "requests_total", &r->m_requests);
  pw_define_metric(PW_METRIC_GAUGE, "gauge", &r->m_gauge);
  pw_define_metric(PW_METRIC_HISTOGRAM, "histogram", &r->m_histogram);
  pw_register_shared_queue("conformance", &r->queue);
  if (strncmp(r->tag, "tick", 4) == 0) pw_set_tick_period(100);
  return 1;
}

PW_EXPORT(proxy_on_tick) void proxy_on_tick(uint32_t root_id) {
  pw_shared_counter_add("ticks", 1, 0);
  /* postpone: the root resumes the requests it holds, each made current
   * first (a request that went away meanwhile is no longer found). */
  ctx* r = find(root_id);
  for (int i = 0; r && i < r->postponed_count; ++i) {
    if (find(r->postponed[i]) == 0 || pw_set_effective_context(r->postponed[i]) != PW_OK) continue;
    pw_add_header(PW_REQUEST_HEADERS, "x-postponed", r->tag);
    pw_continue_request();
  }
  if (r) r->postponed_count = 0;
}

PW_EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root_id, uint32_t queue_id) {
  (void)root_id;
  char* item = 0;
  size_t size = 0;
  while (pw_dequeue_shared_queue(queue_id, &item, &size) == PW_OK) {
    pw_shared_counter_add("dequeued", 1, 0);
    pw_set_shared_data("last-dequeued", item, size, 0);
    free(item);
  }
}

/* Adds a request header x-call-status[-n] (and x-call-body for one call). */
static void add_call_headers(ctx* c) {
  if (c->test == T_HTTP_CALL) {
    pw_add_header(PW_REQUEST_HEADERS, "x-call-status", c->call_status[0] ? c->call_status[0] : "failed");
    if (c->call_body) pw_add_header(PW_REQUEST_HEADERS, "x-call-body", c->call_body);
    if (c->call_trailer) pw_add_header(PW_REQUEST_HEADERS, "x-call-trailer", c->call_trailer);
    if (c->call_failure) pw_add_header(PW_REQUEST_HEADERS, "x-call-get-status", c->call_failure);
  } else {
    pw_add_header(PW_REQUEST_HEADERS, "x-call-status-1", c->call_status[0] ? c->call_status[0] : "failed");
    pw_add_header(PW_REQUEST_HEADERS, "x-call-status-2", c->call_status[1] ? c->call_status[1] : "failed");
  }
}

/* Dispatches call i (0 or 1) of c; 1 when it is on its way. */
static int dispatch(ctx* c, const char* target, const char* path, int i) {
  const char* headers[] = {":method", "GET", ":path", path, ":authority", "callout.local"};
  if (target == 0 || pw_http_call(target, headers, 3, 0, 0, 0, 0, 2000, &c->tokens[i]) != PW_OK) {
    c->call_status[i] = strdup("failed");
    return 0;
  }
  c->calls_pending++;
  return 1;
}

static void log_levels(ctx* c) {
  static const char* const names[] = {"trace", "debug", "info", "warn", "error", "critical"};
  char buf[24];
  for (int level = PW_TRACE; level <= PW_CRITICAL; ++level) {
    char* head = concat3("conformance ", names[level], strlen(names[level]), " ");
    char* msg = concat3(head, tag_of(c), strlen(tag_of(c)), "");
    pw_log((pw_log_level)level, msg);
    free(msg);
    free(head);
  }
  pw_add_header(PW_REQUEST_HEADERS, "x-log-level", pw_itoa(pw_get_log_level(), buf));
}

/* resolve: x-resolved (dotted IPv4, "v6", or "failed"), x-resolved-name and
 * x-resolved-async (whether the answer came through on_foreign_function). */
static void add_resolved(const char* addr, size_t size, const char* name, const char* async) {
  char text[32] = "failed";
  if (size == 4) {
    char* p = text;
    for (int i = 0; i < 4; ++i) {
      char buf[8];
      const char* d = pw_itoa((unsigned char)addr[i], buf);
      while (*d) *p++ = *d++;
      if (i < 3) *p++ = '.';
    }
    *p = 0;
  } else if (size == 16) {
    strcpy(text, "v6");
  }
  pw_add_header(PW_REQUEST_HEADERS, "x-resolved", text);
  pw_add_header(PW_REQUEST_HEADERS, "x-resolved-name", name ? name : "");
  pw_add_header(PW_REQUEST_HEADERS, "x-resolved-async", async);
}

PW_EXPORT(proxy_on_foreign_function) void proxy_on_foreign_function(uint32_t id, uint32_t function_id, uint32_t size) {
  (void)function_id;
  ctx* c = find(id);
  if (c == 0 || c->test != T_RESOLVE) return;
  size_t got = 0;
  char* args = pw_get_buffer(PW_FOREIGN_FUNCTION_ARGUMENTS, 0, size, &got);
  /* u8 address length, the address, the name */
  size_t len = got > 0 ? (unsigned char)args[0] : 0;
  if (1 + len > got) len = 0;
  char* name = got > 0 ? strndup(args + 1 + len, got - 1 - len) : 0;
  add_resolved(args ? args + 1 : 0, len, name, "1");
  free(name);
  free(args);
  pw_continue_request();
}

PW_EXPORT(proxy_on_request_headers) uint32_t proxy_on_request_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)n;
  (void)eos;
  ctx* c = find(id);
  if (c == 0) return PW_CONTINUE;
  ctx* r = c->root;
  pw_add_header(PW_REQUEST_HEADERS, "x-chain", tag_of(c));
  if (r) pw_increment_metric(r->m_requests, 1);

  char* test = pw_get_header(PW_REQUEST_HEADERS, "x-test");
  c->test = T_NONE;
  for (int i = 1; test && i < (int)(sizeof test_names / sizeof test_names[0]); ++i) {
    if (strcmp(test, test_names[i]) == 0) c->test = (enum test)i;
  }
  free(test);
  if (c->test == T_TRAILERS) c->pause_target = pw_get_header(PW_REQUEST_HEADERS, "x-pause-trailers");

  switch (c->test) {
    case T_HEADERS: {
      pw_add_header(PW_REQUEST_HEADERS, "x-added", "yes");
      pw_replace_header(PW_REQUEST_HEADERS, "x-replace-me", "replaced");
      pw_remove_header(PW_REQUEST_HEADERS, "x-remove-me");
      free(c->read_me);
      c->read_me = pw_get_header(PW_REQUEST_HEADERS, "x-read-me");
      if (c->read_me == 0) c->read_me = strdup("none");
      break;
    }
    case T_LOCAL_REQ: {
      const char* headers[] = {"x-local", tag_of(c)};
      char* body = concat3("local:", tag_of(c), strlen(tag_of(c)), "");
      pw_send_local_response(403, body, strlen(body), headers, 1);
      free(body);
      return PW_PAUSE;
    }
    case T_POSTPONE:
      if (r && r->postponed_count < (int)(sizeof r->postponed / sizeof r->postponed[0])) {
        r->postponed[r->postponed_count++] = c->id;
        return PW_PAUSE;
      }
      break;
    case T_HTTP_CALL:
    case T_HTTP_CALL2: {
      char* target = pw_get_header(PW_REQUEST_HEADERS, "x-call-target");
      if (c->test == T_HTTP_CALL) {
        dispatch(c, target, "/callout", 0);
      } else {
        dispatch(c, target, "/callout/1", 0);
        dispatch(c, target, "/callout/2", 1);
      }
      free(target);
      if (c->calls_pending) return PW_PAUSE;
      add_call_headers(c); /* nothing could be dispatched: all failed */
      break;
    }
    case T_SHARED: {
      int64_t v = 0;
      char buf[24];
      pw_shared_counter_add("counter", 1, &v);
      free(c->counter);
      c->counter = strdup(pw_itoa(v, buf));
      break;
    }
    case T_QUEUE: {
      uint32_t q = 0;
      char* path = pw_get_header(PW_REQUEST_HEADERS, ":path");
      if (pw_resolve_shared_queue("", "conformance", &q) == PW_OK && path) {
        pw_enqueue_shared_queue(q, path, strlen(path));
      }
      free(path);
      break;
    }
    case T_METRICS:
      if (r) {
        pw_record_metric(r->m_gauge, 42);
        pw_record_metric(r->m_histogram, 7);
      }
      break;
    case T_PROPERTIES: {
      const char* path[] = {"wasmgate", "note"};
      char* note = concat3("note-", tag_of(c), strlen(tag_of(c)), "");
      pw_set_property_path(path, 2, note, strlen(note));
      free(note);
      break;
    }
    case T_LOG:
      log_levels(c);
      break;
    case T_VM_STATE:
      c->vm_requests = ++vm_requests;
      break;
    case T_BAD_HEADER: {
      /* (C only) a value with CRLF and a name with a space must be refused. */
      static const char value[] = "a\r\nx-injected: 1";
      static const char name[] = "x bad";
      char buf[16];
      uint32_t st = proxy_add_header_map_value(PW_REQUEST_HEADERS, "x-evil", 6, value, sizeof value - 1);
      pw_add_header(PW_REQUEST_HEADERS, "x-bad-value-status", pw_itoa((int)st, buf));
      st = proxy_add_header_map_value(PW_REQUEST_HEADERS, name, sizeof name - 1, "v", 1);
      pw_add_header(PW_REQUEST_HEADERS, "x-bad-name-status", pw_itoa((int)st, buf));
      break;
    }
    case T_HEADER_NAMES: {
      /* (C only) the request's header names as the host hands them, and a
       * lookup in another case than the client's. */
      pw_pairs pairs = {0, 0, 0};
      pw_get_header_pairs(PW_REQUEST_HEADERS, &pairs);
      size_t len = 1;
      for (size_t i = 0; i < pairs.count; ++i) len += pairs.pairs[i].key_size + 1;
      char* names = (char*)calloc(1, len);
      for (size_t i = 0, at = 0; i < pairs.count; ++i) {
        if (i) names[at++] = ',';
        memcpy(names + at, pairs.pairs[i].key, pairs.pairs[i].key_size);
        at += pairs.pairs[i].key_size;
      }
      pw_add_header(PW_REQUEST_HEADERS, "x-header-names", names);
      free(names);
      pw_pairs_free(&pairs);
      char* v = pw_get_header(PW_REQUEST_HEADERS, "X-READ-ME");
      pw_add_header(PW_REQUEST_HEADERS, "x-lookup", v ? v : "none");
      free(v);
      break;
    }
    case T_REROUTE: {
      /* (C only) x-reroute-authority / x-reroute-path replace :authority /
       * :path; x-reroute-header: add header x-route with its value and
       * clear the route cache (foreign function clear_route_cache). */
      char* authority = pw_get_header(PW_REQUEST_HEADERS, "x-reroute-authority");
      char* path = pw_get_header(PW_REQUEST_HEADERS, "x-reroute-path");
      char* route = pw_get_header(PW_REQUEST_HEADERS, "x-reroute-header");
      if (authority) pw_replace_header(PW_REQUEST_HEADERS, ":authority", authority);
      if (path) pw_replace_header(PW_REQUEST_HEADERS, ":path", path);
      if (route) {
        char buf[16];
        pw_add_header(PW_REQUEST_HEADERS, "x-route", route);
        pw_add_header(PW_REQUEST_HEADERS, "x-clear-status",
                      pw_itoa((int)pw_call_foreign_function("clear_route_cache", "", 0, 0, 0), buf));
      }
      free(authority);
      free(path);
      free(route);
      break;
    }
    case T_FOREIGN: {
      /* (C only) compress then uncompress through the host's foreign
       * functions; an unknown name must answer NotFound (1). */
      static const char text[] = "hello hello hello hello";
      char *packed = 0, *unpacked = 0, buf[16];
      size_t packed_size = 0;
      pw_call_foreign_function("compress", text, sizeof text - 1, &packed, &packed_size);
      if (packed) pw_call_foreign_function("uncompress", packed, packed_size, &unpacked, 0);
      pw_add_header(PW_REQUEST_HEADERS, "x-foreign", unpacked ? unpacked : "failed");
      pw_add_header(PW_REQUEST_HEADERS, "x-foreign-missing",
                    pw_itoa((int)pw_call_foreign_function("no-such-function", "", 0, 0, 0), buf));
      free(packed);
      free(unpacked);
      break;
    }
    case T_RESOLVE: {
      /* (C only) foreign function resolve_lua on the name in x-resolve: the
       * address now (literal, cached) or later in on_foreign_function. */
      char* name = pw_get_header(PW_REQUEST_HEADERS, "x-resolve");
      char* addr = 0;
      size_t size = 0;
      pw_status st = pw_call_foreign_function("resolve_lua", name ? name : "", name ? strlen(name) : 0, &addr, &size);
      if (st == PW_OK && size == 0) {
        free(name);
        free(addr);
        return PW_PAUSE; /* the answer comes in proxy_on_foreign_function */
      }
      add_resolved(addr, size, name, "0");
      free(name);
      free(addr);
      break;
    }
    case T_GRPC: {
      /* (C only) what gRPC callouts answer: x-grpc is the statuses of a
       * call, a stream, and send/cancel/close on token 1. */
      uint32_t token = 0;
      char text[64];
      uint32_t st[5];
      st[0] = proxy_grpc_call("svc", 3, "pkg.Svc", 7, "Do", 2, 0, 0, "", 0, 1000, &token);
      st[1] = proxy_grpc_stream("svc", 3, "pkg.Svc", 7, "Do", 2, 0, 0, &token);
      st[2] = proxy_grpc_send(1, "m", 1, 1);
      st[3] = proxy_grpc_cancel(1);
      st[4] = proxy_grpc_close(1);
      snprintf(text, sizeof text, "%u %u %u %u %u", st[0], st[1], st[2], st[3], st[4]);
      pw_add_header(PW_REQUEST_HEADERS, "x-grpc", text);
      break;
    }
    case T_TRAP:
      abort();
    case T_LOOP:
      for (volatile unsigned i = 0;; i = i + 1) {
      }
    case T_HOG: {
      void* volatile last = 0;
      for (;;) {
        void** block = (void**)malloc(1 << 20);
        if (block == 0) __builtin_trap();
        memset(block, 1, 1 << 20);
        block[0] = last; /* keep every block reachable */
        last = block;
      }
    }
    default:
      break;
  }
  return PW_CONTINUE;
}

/* Body phases: buffer until the end, then wrap the whole body in tags. */
static uint32_t on_body(uint32_t id, uint32_t size, uint32_t eos, enum test want, pw_buffer buffer) {
  ctx* c = find(id);
  if (c == 0 || c->test != want) return PW_CONTINUE;
  if (!eos) return PW_STOP_ITERATION_AND_BUFFER;
  size_t got = 0;
  char* body = pw_get_buffer(buffer, 0, size, &got);
  const char* tag = tag_of(c);
  char* pre = concat3(tag, "|", 1, "");
  char* post = concat3("|", tag, strlen(tag), "");
  char* out = concat3(pre, body ? body : "", got, post);
  pw_set_buffer(buffer, 0, size > got ? size : got, out, strlen(pre) + got + strlen(post));
  free(pre);
  free(post);
  free(out);
  free(body);
  return PW_CONTINUE;
}

PW_EXPORT(proxy_on_request_body) uint32_t proxy_on_request_body(uint32_t id, uint32_t size, uint32_t eos) {
  ctx* c = find(id);
  if (c && c->test == T_TRAILERS) c->req_body_eos = (int)eos;
  return on_body(id, size, eos, T_REQ_BODY, PW_HTTP_REQUEST_BODY);
}

/* trailers: note the request's and pass word of them to the upstream and
 * back to the client through the trailers themselves. */
/* trailers with x-pause-trailers: the trailers wait for an HTTP call to
 * that target; its answer adds x-t-call: <status> to them and resumes. */
static uint32_t pause_trailers(ctx* c, int phase) {
  if (c->pause_target == 0) return PW_CONTINUE;
  c->paused_phase = phase;
  if (!dispatch(c, c->pause_target, "/callout", 0)) return PW_CONTINUE;
  return PW_PAUSE;
}

PW_EXPORT(proxy_on_request_trailers) uint32_t proxy_on_request_trailers(uint32_t id, uint32_t n) {
  ctx* c = find(id);
  if (c == 0 || c->test != T_TRAILERS) return PW_CONTINUE;
  c->req_trailers = (int)n;
  char* v = pw_get_header(PW_REQUEST_TRAILERS, "x-req-t");
  pw_add_header(PW_REQUEST_TRAILERS, "x-req-t-seen", v ? v : "none");
  pw_remove_header(PW_REQUEST_TRAILERS, "x-drop-t");
  free(v);
  return pause_trailers(c, 1);
}

PW_EXPORT(proxy_on_response_trailers) uint32_t proxy_on_response_trailers(uint32_t id, uint32_t n) {
  (void)n;
  ctx* c = find(id);
  if (c == 0 || c->test != T_TRAILERS) return PW_CONTINUE;
  char buf[24];
  char* v = pw_get_header(PW_RESPONSE_TRAILERS, "x-resp-t");
  pw_add_header(PW_RESPONSE_TRAILERS, "x-resp-t-seen", v ? v : "none");
  pw_add_header(PW_RESPONSE_TRAILERS, "x-req-trailers", pw_itoa(c->req_trailers, buf));
  pw_add_header(PW_RESPONSE_TRAILERS, "x-req-body-eos", pw_itoa(c->req_body_eos, buf));
  free(v);
  return pause_trailers(c, 2);
}

PW_EXPORT(proxy_on_response_body) uint32_t proxy_on_response_body(uint32_t id, uint32_t size, uint32_t eos) {
  return on_body(id, size, eos, T_RESP_BODY, PW_HTTP_RESPONSE_BODY);
}

static void add_property_header(const char* header, const char* const* path, size_t segments) {
  char* v = pw_get_property_path(path, segments, 0);
  pw_add_header(PW_RESPONSE_HEADERS, header, v ? v : "none");
  free(v);
}

static void add_shared_header(const char* header, const char* key, const char* missing) {
  char* v = 0;
  pw_get_shared_data(key, &v, 0, 0);
  pw_add_header(PW_RESPONSE_HEADERS, header, v ? v : missing);
  free(v);
}

PW_EXPORT(proxy_on_response_headers) uint32_t proxy_on_response_headers(uint32_t id, uint32_t n, uint32_t eos) {
  (void)n;
  (void)eos;
  ctx* c = find(id);
  if (c == 0) return PW_CONTINUE;
  pw_add_header(PW_RESPONSE_HEADERS, "x-chain-resp", tag_of(c));
  switch (c->test) {
    case T_VM_STATE: {
      char buf[24];
      pw_add_header(PW_RESPONSE_HEADERS, "x-vm-requests", pw_itoa(c->vm_requests, buf));
      break;
    }
    case T_HEADERS:
      pw_add_header(PW_RESPONSE_HEADERS, "x-read-was", c->read_me ? c->read_me : "none");
      pw_replace_header(PW_RESPONSE_HEADERS, "x-resp-replace", "replaced");
      pw_remove_header(PW_RESPONSE_HEADERS, "x-resp-remove");
      break;
    case T_LOCAL_RESP: {
      const char* headers[] = {"x-local-late", tag_of(c)};
      char* body = concat3("late:", tag_of(c), strlen(tag_of(c)), "");
      pw_send_local_response(451, body, strlen(body), headers, 1);
      free(body);
      return PW_PAUSE;
    }
    case T_SHARED:
      pw_add_header(PW_RESPONSE_HEADERS, "x-counter", c->counter ? c->counter : "0");
      break;
    case T_QUEUE_STAT:
      add_shared_header("x-dequeued", "dequeued", "0");
      add_shared_header("x-last-dequeued", "last-dequeued", "none");
      break;
    case T_TICK_STAT:
      add_shared_header("x-ticks", "ticks", "0");
      break;
    case T_PLUGIN: {
      /* (C only) Envoy's plugin settings: [root id], [vm id], the VM
       * configuration (buffer 6, read here, outside on_vm_start) and the
       * size on_vm_start was given. */
      char buf[16];
      char* root = pw_get_property("plugin_root_id", 0);
      char* vm_id = pw_get_property("plugin_vm_id", 0);
      char* text = concat3("[", root ? root : "none", root ? strlen(root) : 4, "]");
      pw_add_header(PW_RESPONSE_HEADERS, "x-root-id", text);
      free(text);
      text = concat3("[", vm_id ? vm_id : "none", vm_id ? strlen(vm_id) : 4, "]");
      pw_add_header(PW_RESPONSE_HEADERS, "x-vm-id", text);
      free(text);
      free(root);
      free(vm_id);
      char* vm_config = pw_get_vm_configuration(0);
      pw_add_header(PW_RESPONSE_HEADERS, "x-vm-config", vm_config[0] ? vm_config : "none");
      free(vm_config);
      pw_add_header(PW_RESPONSE_HEADERS, "x-vm-config-size", pw_itoa((int)vm_config_size, buf));
      break;
    }
    case T_VM_STARTS:
      add_shared_header("x-vm-starts", "vm-starts", "0");
      break;
    case T_PROPERTIES: {
      static const char* const path[] = {"request", "path"};
      static const char* const method[] = {"request", "method"};
      static const char* const plugin[] = {"plugin_name"};
      static const char* const source[] = {"source", "address"};
      static const char* const note[] = {"wasmgate", "note"};
      add_property_header("x-prop-path", path, 2);
      add_property_header("x-prop-method", method, 2);
      add_property_header("x-prop-plugin-name", plugin, 1);
      add_property_header("x-prop-source", source, 2);
      add_property_header("x-prop-note", note, 2);
      break;
    }
    default:
      break;
  }
  return PW_CONTINUE;
}

PW_EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t root_id, uint32_t token, uint32_t num_headers, uint32_t body_size,
                                 uint32_t num_trailers) {
  /* The HTTP context waiting for this token (of this root if we can tell). */
  ctx* c = 0;
  int i = 0;
  for (int pass = 0; pass < 2 && c == 0; ++pass) {
    for (ctx* x = contexts; x && c == 0; x = x->next) {
      if (x->root_id == 0 || x->calls_pending == 0) continue;
      if (pass == 0 && x->root_id != root_id) continue;
      int calls = x->test == T_HTTP_CALL2 ? 2 : 1;
      for (int k = 0; k < calls; ++k) {
        if (x->tokens[k] == token && x->call_status[k] == 0) {
          c = x;
          i = k;
          break;
        }
      }
    }
  }
  if (c == 0) return; /* its request is gone */
  pw_set_effective_context(c->id);
  if (num_headers == 0) {
    c->call_status[i] = strdup("failed");
    uint32_t code = 0;
    char* msg = 0;
    size_t msg_size = 0;
    char buf[16];
    if (proxy_get_status(&code, &msg, &msg_size) == PW_OK && c->call_failure == 0) {
      c->call_failure = concat3(pw_itoa((int)code, buf), " ", 1, "");
      char* full = concat3(c->call_failure, msg ? msg : "", msg ? msg_size : 0, "");
      free(c->call_failure);
      c->call_failure = full;
    }
    free(msg);
  } else {
    c->call_status[i] = pw_get_header(PW_HTTP_CALL_RESPONSE_HEADERS, ":status");
    if (c->call_status[i] == 0) c->call_status[i] = strdup("none");
    if (c->test == T_HTTP_CALL) {
      c->call_body = pw_get_buffer(PW_HTTP_CALL_RESPONSE_BODY, 0, body_size, 0);
      if (c->call_body == 0) c->call_body = strdup("");
      if (num_trailers > 0) c->call_trailer = pw_get_header(PW_HTTP_CALL_RESPONSE_TRAILERS, "x-call-t");
    }
  }
  if (--c->calls_pending > 0) return;
  if (c->test == T_TRAILERS) {
    int response = c->paused_phase == 2;
    pw_add_header(response ? PW_RESPONSE_TRAILERS : PW_REQUEST_TRAILERS, "x-t-call", c->call_status[i]);
    free(c->call_status[i]);
    c->call_status[i] = 0; /* the response's trailers may call again */
    if (response) {
      pw_continue_response();
    } else {
      pw_continue_request();
    }
    return;
  }
  add_call_headers(c);
  pw_continue_request();
}

// The HTTP host functions: body buffers, header maps, local responses,
// stream control and properties, all acting on the pipeline's Exchange of
// the current context.
#include "core/log.h"
#include "http/message.h"
#include "pipeline/properties.h"
#include "wasm/host/host.h"
#include "wasm/pairs.h"

namespace wg::wasm::host {
namespace {

// Header maps: 0 request headers, 1 request trailers, 2 response
// headers, 3 response trailers, 6 and 7 the headers and trailers of the
// http_call response being delivered, 4 and 5 the gRPC metadata being
// delivered (initial, trailing).
HeaderMap* map(FilterVm& f, uint64_t type) {
  if (type == 4 || type == 5) return Access::grpc_metadata(f, type);
  pipeline::Exchange* s = Access::stream(f);
  if (type == 0 && s != nullptr) return &s->request_headers;
  if (type == 6 || type == 7) {
    HttpCallResult* c = Access::call_result(f);
    if (c == nullptr) return nullptr;
    return type == 6 ? &c->headers : &c->trailers;
  }
  if (s == nullptr) return nullptr;
  if (type == 1) return &s->request_trailers;
  if (type == 2 && s->response_phase) return &s->response_headers;
  if (type == 3 && s->response_phase) return &s->response_trailers;
  return nullptr;
}

// Buffers: 0/1 the request/response body of the body callback in
// progress, 4 the http_call response body, 5 the gRPC message being
// delivered, 6/7 VM and plugin configuration, 8 the arguments of
// on_foreign_function.
std::string* body_buffer(FilterVm& f, uint64_t type) {
  if (type == 4) return Access::call_result(f) != nullptr ? &Access::call_result(f)->body : nullptr;
  pipeline::Exchange* s = Access::stream(f);
  if (s == nullptr || s->body == nullptr || (type != 0 && type != 1)) return nullptr;
  return (type == 1) == s->body_is_response ? s->body : nullptr;
}

std::string_view buffer(FilterVm& f, uint64_t type, bool* available) {
  *available = true;
  if (type == 6) return Access::vm_config(f);  // as Envoy: in every callback, not only on_vm_start
  if (type == 7 && Access::plugin_config(f) != nullptr) return *Access::plugin_config(f);
  if (type == 8 && Access::foreign_args(f) != nullptr) return *Access::foreign_args(f);
  if (type == 5 && Access::grpc_message(f) != nullptr) return *Access::grpc_message(f);
  if (std::string* b = body_buffer(f, type)) return *b;
  *available = false;
  return {};
}

WG_HOST(proxy_get_buffer_bytes) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  if (a[0] > 8) return answer_with(r, kBadArgument);
  bool available = false;
  std::string_view data = buffer(f, a[0], &available);
  if (!available) return answer_with(r, kNotFound);
  Args in(vm, a);
  uint64_t start = in.u32(1), max = in.u32(2);
  std::string_view part = start >= data.size() ? std::string_view() : data.substr(start, max);
  return answer_with(r, Access::give(f, in, part, 3));
}

WG_HOST(proxy_get_buffer_status) {
  WG_UNUSED_HOST;
  bool available = false;
  std::string_view data = buffer(Access::self(host), a[0], &available);
  if (!available) return answer_with(r, a[0] > 8 ? kBadArgument : kNotFound);
  Args in(vm, a);
  uint32_t st = in.put_u32(1, static_cast<uint32_t>(data.size()));
  return answer_with(r, st == kOk ? in.put_u32(2, 0) : st);
}

// Replaces [start, start+size) of a body with the given bytes: size 0
// inserts (start 0 prepends), start at or past the end appends, and
// start 0 with size >= length replaces it all (Envoy's three cases,
// and any range in between, as ngx_wasm_module allows).
WG_HOST(proxy_set_buffer_bytes) {
  WG_UNUSED_HOST;
  std::string* b = a[0] == 4 ? nullptr : body_buffer(Access::self(host), a[0]);
  if (b == nullptr) return answer_with(r, a[0] > 8 ? kBadArgument : kNotFound);
  Args in(vm, a);
  std::string_view data = in.bytes(3);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  size_t start = in.u32(1), size = in.u32(2);
  if (start > b->size()) start = b->size();
  if (size > b->size() - start) size = b->size() - start;
  b->replace(start, size, data);
  return answer_with(r, kOk);
}

WG_HOST(proxy_get_header_map_pairs) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  if (a[0] > 7) return answer_with(r, kBadArgument);
  HeaderMap* m = map(f, a[0]);
  std::string data = m != nullptr ? serialize(*m) : std::string();
  return answer_with(r, Access::give(f, Args(vm, a), data, 1));
}

WG_HOST(proxy_set_header_map_pairs) {
  WG_UNUSED_HOST;
  HeaderMap* m = map(Access::self(host), a[0]);
  if (m == nullptr) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view data = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  HeaderList parsed;
  if (!parse_pairs(data, &parsed)) parsed.clear();  // malformed: empty map, as cpp-host
  if (!valid_headers(parsed)) return answer_with(r, kBadArgument);
  m->assign(parsed);
  return answer_with(r, kOk);
}

WG_HOST(proxy_get_header_map_size) {
  WG_UNUSED_HOST;
  HeaderMap* m = map(Access::self(host), a[0]);
  if (m == nullptr) return answer_with(r, kBadArgument);
  return answer_with(r, Args(vm, a).put_u32(1, static_cast<uint32_t>(serialized_size(*m))));
}

WG_HOST(proxy_get_header_map_value) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  HeaderMap* m = map(f, a[0]);
  if (a[0] > 7) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view key = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (const HeaderMap::Entry* e = m != nullptr ? m->find(key) : nullptr) {
    return answer_with(r, Access::give(f, in, e->value, 3));
  }
  // 0.1.0 answers a missing key with an empty value.
  return answer_with(r, Access::abi(f) == Abi::V0_1_0 ? Access::give(f, in, {}, 3) : kNotFound);
}

bool valid_value(std::string_view v) {
  for (char c : v) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

// A token, or ':' and a token (or ":" alone).
bool valid_name(std::string_view k) {
  if (k.empty()) return false;
  std::string_view name = k[0] == ':' ? k.substr(1) : k;
  return name.empty() || http::is_token(name);
}

// valid_name() through the instance's cache of names already checked;
// *id: the name's HeaderId.
bool checked_name(FilterVm& f, std::string_view k, http::HeaderId* id) {
  HeaderNameCache& names = Access::header_names(f);
  if (names.find(k, id)) return true;
  if (!valid_name(k)) return false;
  *id = http::classify_header(k);
  names.put(k, *id);
  return true;
}

WG_HOST(proxy_add_header_map_value) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  HeaderMap* m = map(f, a[0]);
  if (m == nullptr) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view k = in.bytes(1), v = in.bytes(3);
  http::HeaderId id;
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (!checked_name(f, k, &id) || !valid_value(v)) return answer_with(r, kBadArgument);
  // As its wire line: the head writer copies it in one piece.
  m->add_line(k, v, id);
  return answer_with(r, kOk);
}

WG_HOST(proxy_replace_header_map_value) {
  WG_UNUSED_HOST;
  HeaderMap* m = map(Access::self(host), a[0]);
  if (m == nullptr) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view k = in.bytes(1), v = in.bytes(3);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (!valid_header(k, v)) return answer_with(r, kBadArgument);
  m->replace(k, v);
  return answer_with(r, kOk);
}

WG_HOST(proxy_remove_header_map_value) {
  WG_UNUSED_HOST;
  HeaderMap* m = map(Access::self(host), a[0]);
  if (m == nullptr) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view k = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  m->remove(k);
  return answer_with(r, kOk);
}

WG_HOST(proxy_send_local_response) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  pipeline::Exchange* s = Access::stream(f);
  if (s == nullptr) return answer_with(r, kBadArgument);
  Args in(vm, a);
  std::string_view body = in.bytes(3), headers = in.bytes(5);
  in.bytes(1);  // details: checked, not used
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  uint32_t status = in.u32(0);
  if (status < 100 || status > 999) return answer_with(r, kBadArgument);
  HeaderList list;
  if (!parse_pairs(headers, &list) || !valid_headers(list)) return answer_with(r, kBadArgument);
  s->local_reply = true;
  s->local_status = static_cast<int>(status);
  s->local_body.assign(body);
  s->local_headers = std::move(list);
  Access::woke(f, s);
  return answer_with(r, kOk);
}

// Stream types: 0 request, 1 response (2/3, TCP streams, are not ours).
uint32_t resume(FilterVm& f, uint64_t stream_type, bool close) {
  pipeline::Exchange* s = Access::stream(f);
  if (s == nullptr) return kBadArgument;
  if (stream_type > 3) return kBadArgument;
  if (stream_type > 1) return kUnimplemented;
  if (close) {
    s->close_requested = true;
  } else if (stream_type == 0) {
    s->resume_request = true;
  } else {
    s->resume_response = true;
  }
  Access::woke(f, s);
  return kOk;
}

WG_HOST(proxy_continue_stream) {
  WG_UNUSED_HOST;
  return answer_with(r, resume(Access::self(host), a[0], false));
}

WG_HOST(proxy_close_stream) {
  WG_UNUSED_HOST;
  return answer_with(r, resume(Access::self(host), a[0], true));
}

WG_HOST(proxy_continue_request) {
  WG_UNUSED_HOST;
  return answer_with(r, resume(Access::self(host), 0, false));
}

WG_HOST(proxy_continue_response) {
  WG_UNUSED_HOST;
  return answer_with(r, resume(Access::self(host), 1, false));
}

// The request is matched again once the request head phase ends (the
// session's reroute); asked later, it changes nothing, as in Envoy once the
// request went upstream.
WG_HOST(proxy_clear_route_cache) {
  WG_UNUSED_HOST;
  return answer_with(r, clear_route_cache(Access::self(host)));
}

// Properties: Envoy's attribute paths, segments separated by NUL.
std::string dotted(std::string_view path) {
  std::string key(path);
  for (auto& c : key) {
    if (c == '\0') c = '.';
  }
  return key;
}

// The request's properties are the pipeline's (pipeline/properties.h);
// the plugin's are this filter's.
bool property(FilterVm& f, std::string_view path, std::string* out) {
  std::string key = dotted(path);
  // Envoy's answers: the plugin's name (the filter's), its configured
  // root_id (empty unless set) and its vm_id (always empty: wasmgate has
  // no named VMs).
  if (key == "plugin_name" || key == "plugin_root_id") {
    const FilterVm::Context* root = Access::root_of(f);
    *out = root == nullptr ? "" : key == "plugin_name" ? root->info->filter_name : root->info->root_id;
    return true;
  }
  if (key == "plugin_vm_id") {
    out->clear();
    return true;
  }
  return Access::stream(f) != nullptr && pipeline::get_property(*Access::stream(f), key, out);
}

WG_HOST(proxy_get_property) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view path = in.bytes(0);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  std::string value;
  if (!property(f, path, &value)) return answer_with(r, kNotFound);
  return answer_with(r, Access::give(f, in, value, 2));
}

// Values a filter sets live with the request (filter state, in Envoy's
// words) and are visible to every handler of the chain; the host's own
// attributes cannot be overwritten.
WG_HOST(proxy_set_property) {
  WG_UNUSED_HOST;
  pipeline::Exchange* s = Access::stream(Access::self(host));
  Args in(vm, a);
  std::string_view path = in.bytes(0), value = in.bytes(2);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (s == nullptr || path.empty()) return answer_with(r, kNotFound);
  std::string key = dotted(path);
  if (!pipeline::property_writable(key)) return answer_with(r, kBadArgument);
  s->properties[key].assign(value);
  return answer_with(r, kOk);
}

}  // namespace

uint32_t clear_route_cache(FilterVm& f) {
  pipeline::Exchange* s = Access::stream(f);
  if (s != nullptr && !s->response_phase) s->clear_route_cache = true;
  return kOk;
}

bool valid_header(std::string_view k, std::string_view v) { return valid_name(k) && valid_value(v); }

bool valid_headers(const HeaderList& list) {
  for (const auto& [k, v] : list) {
    if (!valid_header(k, v)) return false;
  }
  return true;
}

void add_http(std::vector<HostFunc>* t) {
  t->insert(t->end(), {
                          {"env", "proxy_get_buffer_bytes", "iiiii", "i", proxy_get_buffer_bytes},
                          {"env", "proxy_get_buffer_status", "iii", "i", proxy_get_buffer_status},
                          {"env", "proxy_set_buffer_bytes", "iiiii", "i", proxy_set_buffer_bytes},
                          {"env", "proxy_get_header_map_pairs", "iii", "i", proxy_get_header_map_pairs},
                          {"env", "proxy_set_header_map_pairs", "iii", "i", proxy_set_header_map_pairs},
                          {"env", "proxy_get_header_map_size", "ii", "i", proxy_get_header_map_size},
                          {"env", "proxy_get_header_map_value", "iiiii", "i", proxy_get_header_map_value},
                          {"env", "proxy_add_header_map_value", "iiiii", "i", proxy_add_header_map_value},
                          {"env", "proxy_replace_header_map_value", "iiiii", "i", proxy_replace_header_map_value},
                          {"env", "proxy_remove_header_map_value", "iii", "i", proxy_remove_header_map_value},
                          {"env", "proxy_send_local_response", "iiiiiiii", "i", proxy_send_local_response},
                          {"env", "proxy_continue_stream", "i", "i", proxy_continue_stream},
                          {"env", "proxy_close_stream", "i", "i", proxy_close_stream},
                          {"env", "proxy_continue_request", "", "i", proxy_continue_request},
                          {"env", "proxy_continue_response", "", "i", proxy_continue_response},
                          {"env", "proxy_clear_route_cache", "", "i", proxy_clear_route_cache},
                          {"env", "proxy_get_property", "iiii", "i", proxy_get_property},
                          {"env", "proxy_set_property", "iiii", "i", proxy_set_property},
                      });
}

}  // namespace wg::wasm::host

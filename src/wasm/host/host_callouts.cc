// Calls out of the filter: proxy_http_call (run by the worker, answered
// in on_http_call_response), foreign functions (a registry by name), the
// gRPC calls (answered with a status: no gRPC upstreams yet) and the
// status of the last callout.
#include <zlib.h>

#include <algorithm>

#include "core/log.h"
#include "wasm/host/host.h"
#include "wasm/pairs.h"

namespace wg::wasm::host {
namespace {

// proxy_http_call(upstream, headers, body, trailers, timeout_ms, *token):
// the worker runs the call; its answer comes in on_http_call_response.
WG_HOST(proxy_http_call) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view target = in.bytes(0), headers = in.bytes(2), body = in.bytes(4);
  in.bytes(6);  // trailers: checked; an HTTP/1.1 call sends none
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  HttpCallSpec spec;
  spec.target.assign(target);
  spec.body.assign(body);
  spec.timeout_ms = in.u32(8);
  if (!parse_pairs(headers, &spec.headers) || !valid_headers(spec.headers) || target.empty()) {
    return answer_with(r, kBadArgument);
  }
  bool has_path = false, has_method = false;
  for (const auto& [k, v] : spec.headers) {
    has_path = has_path || (k == ":path" && !v.empty());
    has_method = has_method || (k == ":method" && !v.empty());
  }
  if (!has_path || !has_method) return answer_with(r, kBadArgument);
  WorkerHooks* hooks = Access::hooks(f);
  if (hooks == nullptr) return answer_with(r, kInternalFailure);
  uint32_t token = Access::next_call_token(f);
  if (in.put_u32(9, token) != kOk) return answer_with(r, kInvalidMemoryAccess);
  if (!hooks->dispatch_http_call(Access::shared(f), Access::current_ctx(f), token, std::move(spec))) {
    return answer_with(r, kBadArgument);  // unknown target
  }
  return answer_with(r, kOk);
}

// ---- foreign functions: each answers a status and, on kOk, its result
// goes to the filter through the out-pointers at arguments 4 and 5.
using ForeignFunction = uint32_t (*)(FilterVm& f, const Args& in, std::string_view arg);

// Envoy's "compress" (zlib).
uint32_t compress_fn(FilterVm& f, const Args& in, std::string_view arg) {
  uLongf len = compressBound(static_cast<uLong>(arg.size()));
  std::string out(len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(arg.data()),
                static_cast<uLong>(arg.size()), Z_DEFAULT_COMPRESSION) != Z_OK) {
    return kBadArgument;
  }
  out.resize(len);
  return Access::give(f, in, out, 4);
}

// Envoy's "uncompress": the output grows until it fits, up to 64 MiB.
uint32_t uncompress_fn(FilterVm& f, const Args& in, std::string_view arg) {
  std::string out;
  for (size_t cap = std::max<size_t>(arg.size() * 4, 1024); cap <= (64u << 20); cap *= 2) {
    uLongf len = static_cast<uLongf>(cap);
    out.resize(cap);
    int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(arg.data()),
                        static_cast<uLong>(arg.size()));
    if (rc == Z_OK) {
      out.resize(len);
      return Access::give(f, in, out, 4);
    }
    if (rc != Z_BUF_ERROR) break;
  }
  return kBadArgument;
}

// resolve_lua (the name ngx_wasm_module gave it, so Kong filters work
// unchanged): the address of a host name, now when it is an IP literal or
// cached, else an empty result now and proxy_on_foreign_function(ctx, 0,
// size) later, with buffer 8 = u8 address length, the address, the name
// (length 0: it did not resolve).
uint32_t resolve_lua(FilterVm& f, const Args& in, std::string_view arg) {
  if (arg.empty() || arg.size() > 255) return kBadArgument;
  WorkerHooks* hooks = Access::hooks(f);
  if (hooks == nullptr) return kInternalFailure;  // a scratch VM checking a config
  std::string address;
  bool refused = false;
  hooks->resolve_name(Access::shared(f), Access::current_ctx(f), std::string(arg), &address, &refused);
  if (refused) return kInternalFailure;
  // An empty address: the answer comes later, through on_foreign_function.
  return Access::give(f, in, address, 4);
}

// Envoy's "clear_route_cache" (ABI 0.2.x dropped the import): no argument, no result.
uint32_t clear_route_cache_fn(FilterVm& f, const Args&, std::string_view) { return clear_route_cache(f); }

struct Foreign {
  std::string_view name;
  ForeignFunction fn;
};
constexpr Foreign kForeignFunctions[] = {
    {"compress", compress_fn},
    {"uncompress", uncompress_fn},
    {"resolve_lua", resolve_lua},
    {"clear_route_cache", clear_route_cache_fn},
};

// Unknown names answer NotFound, as Envoy does.
WG_HOST(proxy_call_foreign_function) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  std::string_view name = in.bytes(0), arg = in.bytes(2);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  for (const Foreign& ff : kForeignFunctions) {
    if (ff.name == name) return answer_with(r, ff.fn(Access::self(host), in, arg));
  }
  return answer_with(r, kNotFound);
}

// The status of the last callout, as Envoy keeps it: an http_call that
// got no answer is (11 BrokenConnection, "reset"); one that did, (0, "").
WG_HOST(proxy_get_status) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  if (in.put_u32(0, Access::callout_status(f)) != kOk) return answer_with(r, kInvalidMemoryAccess);
  return answer_with(r, Access::give(f, in, Access::callout_message(f), 1));
}

// gRPC callouts need gRPC (HTTP/2) upstreams, which the gateway does not
// have yet. Every upstream is unknown, and Envoy's answer to an unknown
// upstream is ParseFailure; no call or stream exists, so a token is not
// found. A filter gets a status it can handle rather than a trap (which
// is what ngx_wasm_module gives it).
WG_HOST(proxy_grpc_open) {
  WG_UNUSED_HOST;
  WG_LOG(Debug, "a filter asked for a gRPC call: not supported yet");
  return answer_with(r, kParseFailure);
}

}  // namespace

void add_callouts(std::vector<HostFunc>* t) {
  t->insert(t->end(), {
                          {"env", "proxy_http_call", "iiiiiiiiii", "i", proxy_http_call},
                          {"env", "proxy_call_foreign_function", "iiiiii", "i", proxy_call_foreign_function},
                          {"env", "proxy_get_status", "iii", "i", proxy_get_status},
                          {"env", "proxy_grpc_call", "iiiiiiiiiiii", "i", proxy_grpc_open},
                          {"env", "proxy_grpc_stream", "iiiiiiiii", "i", proxy_grpc_open},
                          {"env", "proxy_grpc_send", "iiii", "i", answer<kNotFound>},
                          {"env", "proxy_grpc_cancel", "i", "i", answer<kNotFound>},
                          {"env", "proxy_grpc_close", "i", "i", answer<kNotFound>},
                      });
}

}  // namespace wg::wasm::host

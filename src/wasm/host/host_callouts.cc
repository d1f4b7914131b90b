// Calls out of the filter: proxy_http_call (run by the worker, answered
// in on_http_call_response), foreign functions (a registry by name), gRPC
// calls and streams (run by the worker's gRPC client, answered in
// proxy_on_grpc_*) and the status of the last callout.
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
// got no answer is (11 BrokenConnection, "reset"); one that did, (0, "");
// in proxy_on_grpc_close, the gRPC status and its message.
WG_HOST(proxy_get_status) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  if (in.put_u32(0, Access::callout_status(f)) != kOk) return answer_with(r, kInvalidMemoryAccess);
  return answer_with(r, Access::give(f, in, Access::callout_message(f), 1));
}

// ---- gRPC: calls and streams run by the worker's gRPC client (HTTP/2);
// the answers come in proxy_on_grpc_*. The upstream is a target as
// http_call's: "host:port", or the name of a service or upstream. Statuses
// as Envoy's: an unknown upstream is ParseFailure, a malformed argument
// BadArgument, a token that is no open call NotFound.

// Decodes and starts a call (stream: proxy_grpc_stream's arguments, which
// lack the message and the timeout); the token goes to the out-pointer.
uint32_t grpc_open(FilterVm& f, Args& in, bool stream) {
  std::string_view target = in.bytes(0), service = in.bytes(2), method = in.bytes(4), metadata = in.bytes(6);
  std::string_view message = stream ? std::string_view() : in.bytes(8);
  if (!in.ok()) return kInvalidMemoryAccess;
  GrpcCallSpec spec;
  if (!parse_pairs(metadata, &spec.metadata) || !valid_headers(spec.metadata)) return kBadArgument;
  if (target.empty() || service.empty() || method.empty()) return kBadArgument;
  WorkerHooks* hooks = Access::hooks(f);
  if (hooks == nullptr) return kInternalFailure;  // a scratch VM checking a config
  const size_t token_arg = stream ? 8 : 11;
  const uint32_t token = Access::next_call_token(f);
  if (in.put_u32(token_arg, token) != kOk) return kInvalidMemoryAccess;
  spec.target.assign(target);
  spec.service.assign(service);
  spec.method.assign(method);
  spec.message.assign(message);
  spec.timeout_ms = stream ? 0 : in.u32(10);
  spec.stream = stream;
  uint64_t call = hooks->dispatch_grpc(Access::shared(f), Access::current_ctx(f), token, std::move(spec));
  if (call == 0) return kParseFailure;  // unknown upstream
  Access::grpc_calls(f).push_back({token, call, stream});
  return kOk;
}

WG_HOST(proxy_grpc_call) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  return answer_with(r, grpc_open(Access::self(host), in, false));
}

WG_HOST(proxy_grpc_stream) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  return answer_with(r, grpc_open(Access::self(host), in, true));
}

// The open call with this token, or null.
const FilterVm::GrpcCall* grpc_call(FilterVm& f, uint32_t token) {
  for (const auto& c : Access::grpc_calls(f)) {
    if (c.token == token) return &c;
  }
  return nullptr;
}

// proxy_grpc_send(token, message, end_stream): streams only.
WG_HOST(proxy_grpc_send) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view message = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  const FilterVm::GrpcCall* c = grpc_call(f, in.u32(0));
  if (c == nullptr) return answer_with(r, kNotFound);
  if (!c->stream) return answer_with(r, kBadArgument);
  // A stream whose server side has ended takes nothing more; its close is on its way.
  Access::hooks(f)->grpc_send(c->call, message, in.u32(3) != 0);
  return answer_with(r, kOk);
}

// proxy_grpc_close(token): half-closes a stream; a unary call is cancelled
// (as Envoy does: it has nothing to half-close).
WG_HOST(proxy_grpc_close) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  const FilterVm::GrpcCall* c = grpc_call(f, static_cast<uint32_t>(a[0]));
  if (c == nullptr) return answer_with(r, kNotFound);
  if (c->stream) {
    Access::hooks(f)->grpc_close(c->call);
  } else {
    Access::hooks(f)->grpc_cancel(c->call);
    Access::forget_grpc_call(f, c->token);
  }
  return answer_with(r, kOk);
}

// proxy_grpc_cancel(token): resets the call; no callback follows.
WG_HOST(proxy_grpc_cancel) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  const FilterVm::GrpcCall* c = grpc_call(f, static_cast<uint32_t>(a[0]));
  if (c == nullptr) return answer_with(r, kNotFound);
  Access::hooks(f)->grpc_cancel(c->call);
  Access::forget_grpc_call(f, c->token);
  return answer_with(r, kOk);
}

}  // namespace

void add_callouts(std::vector<HostFunc>* t) {
  t->insert(t->end(), {
                          {"env", "proxy_http_call", "iiiiiiiiii", "i", proxy_http_call},
                          {"env", "proxy_call_foreign_function", "iiiiii", "i", proxy_call_foreign_function},
                          {"env", "proxy_get_status", "iii", "i", proxy_get_status},
                          {"env", "proxy_grpc_call", "iiiiiiiiiiii", "i", proxy_grpc_call},
                          {"env", "proxy_grpc_stream", "iiiiiiiii", "i", proxy_grpc_stream},
                          {"env", "proxy_grpc_send", "iiii", "i", proxy_grpc_send},
                          {"env", "proxy_grpc_cancel", "i", "i", proxy_grpc_cancel},
                          {"env", "proxy_grpc_close", "i", "i", proxy_grpc_close},
                      });
}

}  // namespace wg::wasm::host

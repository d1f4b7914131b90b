#include "wasm/client_hooks.h"

#include <utility>

namespace wg::wasm {

bool ClientHooks::dispatch_http_call(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token,
                                     HttpCallSpec spec) {
  client::Request req;
  req.target = std::move(spec.target);
  req.timeout_ms = spec.timeout_ms;
  req.purpose = "http_call";
  for (const auto& [k, v] : spec.headers) {
    if (k == ":method") req.method = v;
    if (k == ":path") req.path = v;
    if (k == ":authority" && !v.empty()) req.authority = v;
  }
  req.headers = std::move(spec.headers);  // the client drops pseudo-headers and framing fields
  req.body = std::move(spec.body);
  std::weak_ptr<FilterVm> weak = vm;
  return http_.send(std::move(req), [weak, ctx, token](client::Response& r) {
    auto vm = weak.lock();
    if (!vm) return;
    HttpCallResult result;
    result.ok = r.ok;
    if (r.ok) {
      result.headers.add(":status", std::to_string(r.status));
      for (const auto& [k, v] : r.headers) result.headers.add(k, v);
      result.body = std::move(r.body);
      result.trailers.add_field_lines(r.trailer_text);
    }
    vm->on_http_call_response(ctx, token, result);
  });
}

bool ClientHooks::resolve_name(std::shared_ptr<FilterVm> vm, uint32_t ctx, const std::string& name,
                               std::string* address, bool* refused) {
  std::weak_ptr<FilterVm> weak = vm;
  auto r = names_.resolve(name, address, [weak, ctx](const std::string& name, const std::string& address) {
    auto vm = weak.lock();
    if (!vm) return;
    // resolve_lua's answer, as ngx_wasm_module gives it: u8 length, the address, the name.
    std::string args;
    args.push_back(static_cast<char>(address.size()));
    args.append(address);
    args.append(name);
    vm->on_foreign_function(ctx, 0, args);
  });
  *refused = r == client::NameResolver::Result::Refused;
  return r == client::NameResolver::Result::Now;
}

}  // namespace wg::wasm

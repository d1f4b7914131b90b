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

namespace {

// One gRPC call's answers, handed to the filter's VM while it lives.
class GrpcToFilter final : public client::GrpcHandler {
 public:
  GrpcToFilter(std::weak_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, bool stream)
      : vm_(std::move(vm)), ctx_(ctx), token_(token), stream_(stream) {}

  void on_initial_metadata(client::grpc::Metadata& md) override { metadata(md, false); }
  void on_trailing_metadata(client::grpc::Metadata& md) override { metadata(md, true); }

  void on_message(std::string& message) override {
    if (!stream_) {
      if (!got_reply_) reply_ = std::move(message);  // a unary reply: delivered once the status is known
      got_reply_ = true;
      return;
    }
    if (auto vm = vm_.lock()) vm->on_grpc_message(ctx_, token_, message, false);
  }

  void on_close(uint32_t status, const std::string& message) override {
    auto vm = vm_.lock();
    if (!vm) return;
    if (!stream_ && status == client::grpc::kOk) {
      if (got_reply_) return vm->on_grpc_message(ctx_, token_, reply_, true);
      return vm->on_grpc_close(ctx_, token_, client::grpc::kInternal, "no response message");
    }
    vm->on_grpc_close(ctx_, token_, status, message);
  }

 private:
  void metadata(client::grpc::Metadata& md, bool trailing) {
    if (!stream_) return;  // a unary call's filter sees only the reply or the failure
    auto vm = vm_.lock();
    if (!vm) return;
    HeaderMap map;
    map.assign(md);
    vm->on_grpc_metadata(ctx_, token_, map, trailing);
  }

  std::weak_ptr<FilterVm> vm_;
  uint32_t ctx_, token_;
  bool stream_;
  bool got_reply_ = false;
  std::string reply_;
};

}  // namespace

uint64_t ClientHooks::dispatch_grpc(std::shared_ptr<FilterVm> vm, uint32_t ctx, uint32_t token, GrpcCallSpec spec) {
  client::GrpcCallSpec call;
  call.target = std::move(spec.target);
  call.service = std::move(spec.service);
  call.method = std::move(spec.method);
  call.metadata = std::move(spec.metadata);
  call.timeout_ms = spec.timeout_ms;
  auto handler = std::make_unique<GrpcToFilter>(vm, ctx, token, spec.stream);
  uint64_t id = grpc_.start(std::move(call), std::move(handler));
  if (id != 0 && !spec.stream) grpc_.send(id, spec.message, true);
  return id;
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

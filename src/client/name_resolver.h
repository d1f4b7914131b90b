// Host names a filter asks the address of (foreign function resolve_lua),
// resolved off the worker loop: IP literals and cached answers come back at
// once; other names are resolved on a short-lived thread (the resolver
// blocks) and the answer reaches the filter on the worker's loop, woken by
// an eventfd, through FilterVm::on_foreign_function.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "wasm/proxy_wasm.h"

namespace wg::proxy {

class WorkerContext;

class NameResolutions final : public core::IoHandler {
 public:
  static constexpr size_t kMaxPending = 64;  // per worker

  explicit NameResolutions(WorkerContext& worker);
  ~NameResolutions();

  // True with *address (4 or 16 bytes) when known now; false when the answer
  // will come later, or with *refused when too many are pending.
  bool resolve(std::shared_ptr<wasm::FilterVm> vm, uint32_t ctx, const std::string& name, std::string* address,
               bool* refused);
  void on_io(uint32_t events) override;

 private:
  struct Done {
    std::weak_ptr<wasm::FilterVm> vm;
    uint32_t ctx = 0;
    std::string name;
    std::string address;  // empty: did not resolve (not cached: asked again next time)
    int ttl_s = 0;
  };
  // What the resolving threads and the worker share (it outlives either).
  struct Shared {
    std::mutex mu;
    std::vector<Done> done;
    int efd = -1;
    ~Shared();
  };
  struct Cached {
    std::string address;
    uint64_t expires_ms = 0;
  };

  WorkerContext& worker_;
  std::shared_ptr<Shared> shared_;
  std::unordered_map<std::string, Cached> cache_;
  size_t pending_ = 0;
};

}  // namespace wg::proxy

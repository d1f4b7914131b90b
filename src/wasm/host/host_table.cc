// The import table: every family's host functions, and the helpers they
// share to reach into the FilterVm a call is about.
#include <cstring>

#include "wasm/host/host.h"

namespace wg::wasm::host {

std::vector<HostFunc> table() {
  std::vector<HostFunc> t;
  add_log_and_time(&t);
  add_http(&t);
  add_shared(&t);
  add_callouts(&t);
  add_wasi(&t);
  return t;
}

uint32_t Access::give(FilterVm& f, Vm& vm, std::string_view data, uint32_t ptr_ptr, uint32_t size_ptr) {
  if (data.empty()) {
    return vm.write_u32(ptr_ptr, 0) && vm.write_u32(size_ptr, 0) ? kOk : kInvalidMemoryAccess;
  }
  int alloc = f.fn_index("proxy_on_memory_allocate");
  if (alloc < 0) alloc = f.fn_index("malloc");
  uint64_t addr = 0;
  const uint64_t size = data.size();
  if (alloc < 0 || !vm.call_raw(alloc, &size, 1, &addr)) {
    f.last_error_ = alloc < 0 ? "no allocator" : vm.last_error();
    return kInvalidMemoryAccess;
  }
  uint8_t* p = vm.memory(static_cast<uint32_t>(addr), static_cast<uint32_t>(data.size()));
  if (addr == 0 || p == nullptr) return kInvalidMemoryAccess;
  std::memcpy(p, data.data(), data.size());
  return vm.write_u32(ptr_ptr, static_cast<uint32_t>(addr)) &&
                 vm.write_u32(size_ptr, static_cast<uint32_t>(data.size()))
             ? kOk
             : kInvalidMemoryAccess;
}

const FilterVm::Context* Access::ctx(FilterVm& f) {
  for (const auto& c : f.contexts_) {
    if (c.id == f.current_ctx_) return &c;
  }
  return nullptr;
}

const FilterVm::Context* Access::root_of(FilterVm& f) {
  const FilterVm::Context* c = ctx(f);
  if (c == nullptr || c->root == 0) return c;
  for (const auto& r : f.contexts_) {
    if (r.id == c->root) return &r;
  }
  return nullptr;
}

bool Access::set_effective_context(FilterVm& f, uint32_t id) {
  FilterVm::Context* c = f.find_context(id);
  if (c == nullptr) return false;
  f.current_ctx_ = c->id;
  f.stream_ = c->stream;
  return true;
}

}  // namespace wg::wasm::host

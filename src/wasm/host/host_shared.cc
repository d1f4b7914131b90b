// State filters share across requests and workers: the key-value store,
// the queues (src/wasm/shared_state) and metrics (src/shared/metrics).
#include "shared/metrics.h"
#include "wasm/host/host.h"
#include "wasm/shared_state.h"

namespace wg::wasm::host {
namespace {

WG_HOST(proxy_get_shared_data) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view key = in.bytes(0);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  std::string value;
  uint32_t cas = 0;
  if (!Access::shared_state(f).data.get(key, &value, &cas)) return answer_with(r, kNotFound);
  uint32_t st = Access::give(f, in, value, 2);
  return answer_with(r, st == kOk ? in.put_u32(4, cas) : st);
}

WG_HOST(proxy_set_shared_data) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view key = in.bytes(0), value = in.bytes(2);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  return answer_with(r, Access::shared_state(f).data.set(key, value, in.u32(4)) ? kOk : kCasMismatch);
}

// Queues: one namespace (vm_id "") for every filter, as our VMs have no
// separate ids; on_queue_ready goes to the root contexts that registered.
WG_HOST(proxy_register_shared_queue) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view name = in.bytes(0);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  const FilterVm::Context* root = Access::root_of(f);
  if (root == nullptr) return answer_with(r, kBadArgument);
  auto& queues = Access::shared_state(f).queues;
  uint32_t id = queues.register_queue("", name);
  auto& registered = Access::queues(f);
  bool known = false;
  for (auto& q : registered) known = known || (q.queue_id == id && q.root == root->id);
  if (!known) registered.push_back({root->id, id, queues.enqueued(id), queues.enqueued_counter(id)});
  return answer_with(r, in.put_u32(2, id));
}

WG_HOST(proxy_resolve_shared_queue) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  in.bytes(0);  // vm_id: one namespace for all
  std::string_view name = in.bytes(2);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  uint32_t id = Access::shared_state(Access::self(host)).queues.resolve("", name);
  if (id == 0) return answer_with(r, kNotFound);
  return answer_with(r, in.put_u32(4, id));
}

WG_HOST(proxy_enqueue_shared_queue) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  std::string_view data = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  auto res = Access::shared_state(Access::self(host)).queues.enqueue(in.u32(0), data);
  return answer_with(r, res == SharedQueues::Result::Ok ? kOk : kNotFound);
}

WG_HOST(proxy_dequeue_shared_queue) {
  WG_UNUSED_HOST;
  std::string data;
  auto res = Access::shared_state(Access::self(host)).queues.dequeue(static_cast<uint32_t>(a[0]), &data);
  if (res != SharedQueues::Result::Ok) return answer_with(r, res == SharedQueues::Result::Empty ? kEmpty : kNotFound);
  return answer_with(r, Access::give(Access::self(host), Args(vm, a), data, 1));
}

// Metrics live in the process-wide registry, named per filter.
WG_HOST(proxy_define_metric) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  Args in(vm, a);
  std::string_view name = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (a[0] > 2 || name.empty()) return answer_with(r, kBadArgument);
  const FilterVm::Context* root = Access::root_of(f);
  bool ok = false;
  uint32_t id = shared::Metrics::instance().define(static_cast<shared::MetricType>(a[0]),
                                                   root ? root->info->filter_name : "", name, &ok);
  if (!ok) return answer_with(r, kBadArgument);
  return answer_with(r, in.put_u32(3, id));
}

WG_HOST(proxy_increment_metric) {
  WG_UNUSED_HOST;
  if (Access::scratch(Access::self(host))) return answer_with(r, kOk);  // a check counts nothing
  bool ok = shared::Metrics::instance().increment(static_cast<uint32_t>(a[0]), static_cast<int64_t>(a[1]));
  return answer_with(r, ok ? kOk : kBadArgument);
}

WG_HOST(proxy_record_metric) {
  WG_UNUSED_HOST;
  if (Access::scratch(Access::self(host))) return answer_with(r, kOk);
  return answer_with(r, shared::Metrics::instance().record(static_cast<uint32_t>(a[0]), a[1]) ? kOk : kBadArgument);
}

WG_HOST(proxy_get_metric) {
  WG_UNUSED_HOST;
  uint64_t value = 0;
  if (!shared::Metrics::instance().get(static_cast<uint32_t>(a[0]), &value)) return answer_with(r, kBadArgument);
  return answer_with(r, Args(vm, a).put_u64(1, value));
}

}  // namespace

void add_shared(std::vector<HostFunc>* t) {
  t->insert(t->end(), {
                          {"env", "proxy_get_shared_data", "iiiii", "i", proxy_get_shared_data},
                          {"env", "proxy_set_shared_data", "iiiii", "i", proxy_set_shared_data},
                          {"env", "proxy_register_shared_queue", "iii", "i", proxy_register_shared_queue},
                          {"env", "proxy_resolve_shared_queue", "iiiii", "i", proxy_resolve_shared_queue},
                          {"env", "proxy_enqueue_shared_queue", "iii", "i", proxy_enqueue_shared_queue},
                          {"env", "proxy_dequeue_shared_queue", "iii", "i", proxy_dequeue_shared_queue},
                          {"env", "proxy_define_metric", "iiii", "i", proxy_define_metric},
                          {"env", "proxy_increment_metric", "iI", "i", proxy_increment_metric},
                          {"env", "proxy_record_metric", "iI", "i", proxy_record_metric},
                          {"env", "proxy_get_metric", "ii", "i", proxy_get_metric},
                      });
}

}  // namespace wg::wasm::host

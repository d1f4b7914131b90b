// Logging, time, ticks and the plugin's configuration.
#include <time.h>

#include "core/log.h"
#include "wasm/host/host.h"

namespace wg::wasm::host {
namespace {

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

WG_HOST(proxy_log) {
  WG_UNUSED_HOST;
  Args in(vm, a);
  std::string_view msg = in.bytes(1);
  if (!in.ok()) return answer_with(r, kInvalidMemoryAccess);
  if (a[0] > 5) return answer_with(r, kBadArgument);
  static const log::Level levels[] = {log::Level::Debug, log::Level::Debug, log::Level::Info,
                                      log::Level::Warn,  log::Level::Error, log::Level::Error};
  FilterVm& f = Access::self(host);
  // A configuration check's VM logs at debug only: its start-up is not one
  // of the filter's (the workers' VMs start it).
  log::Level level = Access::scratch(f) ? log::Level::Debug : levels[a[0]];
  if (log::enabled(level)) {
    const FilterVm::Context* root = Access::root_of(f);
    log::write(level, "[wasm]%s filter %s: %.*s", Access::scratch(f) ? " (check)" : "",
               root ? root->info->filter_name.c_str() : "?", static_cast<int>(msg.size()), msg.data());
  }
  return answer_with(r, kOk);
}

WG_HOST(proxy_get_log_level) {
  WG_UNUSED_HOST;
  // Proxy-Wasm levels: 0 trace .. 5 critical; ours start at debug.
  uint32_t level = log::enabled(log::Level::Debug) ? 1 : log::enabled(log::Level::Info) ? 2
                   : log::enabled(log::Level::Warn) ? 3 : 4;
  return answer_with(r, Args(vm, a).put_u32(0, level));
}

WG_HOST(proxy_get_current_time_nanoseconds) {
  WG_UNUSED_HOST;
  return answer_with(r, Args(vm, a).put_u64(0, realtime_ns()));
}

// Ticks belong to the root context of the current context.
WG_HOST(proxy_set_tick_period_milliseconds) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  const FilterVm::Context* root = Access::root_of(f);
  if (root == nullptr) return answer_with(r, kBadArgument);
  uint32_t period = static_cast<uint32_t>(a[0]);
  auto& ticks = Access::ticks(f);
  for (auto it = ticks.begin(); it != ticks.end(); ++it) {
    if (it->root == root->id) {
      ticks.erase(it);
      break;
    }
  }
  if (period > 0) ticks.push_back({root->id, period, 0});
  return answer_with(r, kOk);
}

WG_HOST(proxy_get_configuration) {
  WG_UNUSED_HOST;
  FilterVm& f = Access::self(host);
  // ABI 0.1.0: the plugin's configuration in on_configure, the VM's otherwise.
  const std::string& cfg = Access::plugin_config(f) != nullptr ? *Access::plugin_config(f) : Access::vm_config(f);
  return answer_with(r, Access::give(f, Args(vm, a), cfg, 0));
}

WG_HOST(proxy_set_effective_context) {
  WG_UNUSED_HOST;
  return answer_with(r, Access::set_effective_context(Access::self(host), static_cast<uint32_t>(a[0])) ? kOk
                                                                                                        : kBadArgument);
}

}  // namespace

void add_log_and_time(std::vector<HostFunc>* t) {
  t->insert(t->end(), {
                          {"env", "proxy_log", "iii", "i", proxy_log},
                          {"env", "proxy_get_log_level", "i", "i", proxy_get_log_level},
                          {"env", "proxy_get_current_time_nanoseconds", "i", "i", proxy_get_current_time_nanoseconds},
                          {"env", "proxy_set_tick_period_milliseconds", "i", "i", proxy_set_tick_period_milliseconds},
                          {"env", "proxy_get_configuration", "ii", "i", proxy_get_configuration},
                          {"env", "proxy_set_effective_context", "i", "i", proxy_set_effective_context},
                          {"env", "proxy_done", "", "i", answer<kOk>},
                      });
}

}  // namespace wg::wasm::host

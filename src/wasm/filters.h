// Wasm filters as Kong configures them: a filters directory (every NAME.wasm
// is filter NAME) and filter_chains attached to a service or a route. Each
// route's filters (its service's chain, then its own) become handlers of
// its pipeline chain (wasm/filter_handler.h); each worker instantiates the
// modules it needs.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/entities.h"
#include "config/json_schema.h"
#include "pipeline/chain.h"
#include "wasm/engine.h"
#include "wasm/proxy_wasm.h"

namespace wg::wasm {

struct FilterRef {
  std::string name;
  std::string root_id;    // plugin_root_id: the chain entry's, else NAME.meta.json's, else empty
  std::string config;
  std::string vm_config;  // NAME.meta.json's vm_config: its VMs' configuration
  std::shared_ptr<const Module> module;
  std::string key;  // name, root_id and config: one root context per distinct triple
  // Where a worker caches this filter's instance: slot in the plan numbered
  // plan_id (a per-request lookup is an index, not a hash).
  uint64_t plan_id = 0;
  uint32_t slot = 0;
};

struct FilterPlan {
  // route index -> filters to run, in order
  std::vector<std::vector<FilterRef>> by_route;
  uint64_t id = 0;     // unique per built plan
  uint32_t slots = 0;  // FilterRefs in by_route (FilterRef::slot < slots)
};

// What NAME.meta.json says of filter NAME: the JSON Schema of its
// configuration (as Kong's filters carry), and Envoy's plugin settings that
// Kong's filter entries have no field for: the root id and the VM
// configuration (docs/filter-authors.md).
struct FilterMeta {
  std::optional<config::JsonSchema> config_schema;
  nlohmann::json config_schema_json;  // as written (GET /schemas/filters/{name} shows it)
  std::string root_id;
  std::string vm_config;  // a JSON value other than a string is passed as JSON text
};

// Loads every NAME.wasm of dir (compiled once, cached by hash in cache_dir),
// with its NAME.meta.json when there is one.
class FilterRegistry {
 public:
  static FilterRegistry& instance();
  // (Re)scans dir; modules already compiled with the same bytes are kept.
  void scan(const std::string& dir, const std::string& cache_dir, std::vector<std::string>* errors);
  std::shared_ptr<const Module> find(const std::string& name) const;
  // nullptr when the filter has no schema.
  const config::JsonSchema* schema(const std::string& name) const;
  // Empty for a filter without NAME.meta.json.
  const FilterMeta& meta(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::unordered_map<std::string, std::shared_ptr<const Module>> modules_;
  std::unordered_map<std::string, FilterMeta> metas_;
};

// Builds every route's chain of filter handlers and checks it: unknown
// filters, and filters whose on_vm_start/on_configure refuse their config,
// are errors naming the chain, the filter and the reason. Always returns a
// set (with the worker setup that retires an older config's filters).
std::shared_ptr<pipeline::ChainSet> build_chains(const config::Declarative& decl, const Limits& limits,
                                                       std::vector<std::string>* errors);

// How filter instances are shared, as ngx_wasm_module's
// proxy_wasm_isolation: "none" one VM per module per worker (the default),
// "filter" one per filter configuration, "stream" a fresh VM per request.
enum class Isolation { None, Filter, Stream };
bool parse_isolation(const std::string& s, Isolation* out);

// One worker's instances, with one root context per (filter, config). A VM
// that trapped is replaced on next use. Also runs the VMs' timers and
// delivers their queues, from the worker's loop.
class WorkerFilters {
 public:
  WorkerFilters(const Limits& limits, Isolation isolation) : limits_(limits), isolation_(isolation) {}
  // The calling worker thread's instances (set by the worker at start);
  // filter handlers find their instances there.
  static WorkerFilters* current() { return current_; }
  void make_current() { current_ = this; }
  void set_hooks(WorkerHooks* hooks) { hooks_ = hooks; }
  struct Handle {
    std::shared_ptr<FilterVm> vm;  // shared: requests keep a replaced VM alive until they end
    uint32_t root = 0;
  };
  // nullptr vm when the filter cannot be instantiated (logged).
  Handle get(const FilterRef& f) {
    if (f.plan_id == plan_id_ && f.slot < by_slot_.size()) {  // the current plan's, instantiated
      const Handle& h = by_slot_[f.slot];
      if (h.vm && !h.vm->broken()) return h;
    }
    return get_slow(f);
  }
  // A new config: start every filter it uses now (their ticks and queues
  // run without waiting for a request), and retire roots it dropped.
  void prepare(const FilterPlan& plan);
  // Due ticks and queues with new items; returns ms until the next tick
  // (or max_wait_ms).
  uint64_t run_timers(uint64_t now_ms, uint64_t max_wait_ms);

 private:
  struct Entry {
    std::shared_ptr<FilterVm> vm;
    std::unordered_map<std::string, uint32_t> roots;
  };
  Handle get_slow(const FilterRef& f);
  std::string entry_key(const FilterRef& f) const;
  Handle instantiate(const FilterRef& f);
  static thread_local WorkerFilters* current_;
  Limits limits_;
  Isolation isolation_;
  WorkerHooks* hooks_ = nullptr;
  std::unordered_map<std::string, Entry> entries_;
  // The current plan's filters (by FilterRef::slot) -> their instance. A
  // request of an older plan (in flight across a reload) misses and goes
  // through entries_.
  uint64_t plan_id_ = 0;
  std::vector<Handle> by_slot_;
  // run_timers() does nothing before quiet_until_ms_ unless a VM polls queues.
  uint64_t quiet_until_ms_ = 0;
  uint64_t next_tick_ms_ = 0;  // the earliest tick due (UINT64_MAX: none)
  bool polls_queues_ = false;
};

}  // namespace wg::wasm

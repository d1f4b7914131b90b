// Wasm filters as Kong configures them: a filters directory (every NAME.wasm
// is filter NAME) and filter_chains attached to a service or a route. The
// plan for each route (its service's chain, then its own) is compiled into
// the config snapshot; each worker instantiates the modules it needs.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/entities.h"
#include "wasm/engine.h"
#include "wasm/proxy_wasm.h"

namespace wg::wasm {

struct FilterRef {
  std::string name;
  std::string config;
  std::shared_ptr<const Module> module;
  std::string key;  // name + NUL + config: one root context per distinct pair
};

struct FilterPlan {
  // route index -> filters to run, in order
  std::vector<std::vector<FilterRef>> by_route;
  bool empty() const;
};

// Loads every NAME.wasm of dir (compiled once, cached by hash in cache_dir).
class FilterRegistry {
 public:
  static FilterRegistry& instance();
  // (Re)scans dir; modules already compiled with the same bytes are kept.
  void scan(const std::string& dir, const std::string& cache_dir, std::vector<std::string>* errors);
  std::shared_ptr<const Module> find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::unordered_map<std::string, std::shared_ptr<const Module>> modules_;
};

// Builds the per-route plan and checks it: unknown filters, and filters
// whose on_vm_start/on_configure refuse their config, are errors naming the
// chain, the filter and the reason.
FilterPlan build_plan(const config::Declarative& decl, const Limits& limits, std::vector<std::string>* errors);

// One worker's instances: one VM per module (isolation "none"), one root
// context per (filter, config). A VM that trapped is replaced on next use.
class WorkerFilters {
 public:
  explicit WorkerFilters(const Limits& limits) : limits_(limits) {}
  struct Handle {
    std::shared_ptr<FilterVm> vm;  // shared: requests keep a replaced VM alive until they end
    uint32_t root = 0;
  };
  // nullptr vm when the filter cannot be instantiated (logged).
  Handle get(const FilterRef& f);

 private:
  struct Entry {
    std::shared_ptr<FilterVm> vm;
    std::unordered_map<std::string, uint32_t> roots;
  };
  Limits limits_;
  std::unordered_map<std::string, Entry> by_module_;
};

}  // namespace wg::wasm

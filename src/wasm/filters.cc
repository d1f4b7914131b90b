#include "wasm/filters.h"

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "wasm/filter_handler.h"
#include "wasm/shared_state.h"

namespace wg::wasm {

namespace {

// NAME.meta.json, when the file exists: config_schema, root_id, vm_config.
void load_meta(const std::string& dir, const std::string& name, std::unordered_map<std::string, FilterMeta>* out,
               std::vector<std::string>* errors) {
  std::ifstream in(dir + "/" + name + ".meta.json");
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json json = nlohmann::json::parse(ss.str(), nullptr, false);
  const std::string where = "filter '" + name + "': " + name + ".meta.json ";
  if (json.is_discarded() || !json.is_object()) {
    errors->push_back(where + "is not a JSON object");
    return;
  }
  FilterMeta meta;
  if (auto it = json.find("config_schema"); it != json.end()) {
    std::string error;
    meta.config_schema = config::JsonSchema::compile(*it, &error);
    if (!meta.config_schema) {
      errors->push_back(where + "config_schema: " + error);
      return;
    }
    meta.config_schema_json = *it;
  }
  if (auto it = json.find("root_id"); it != json.end()) {
    if (!it->is_string()) {
      errors->push_back(where + "root_id: expected a string");
      return;
    }
    meta.root_id = it->get<std::string>();
  }
  if (auto it = json.find("vm_config"); it != json.end() && !it->is_null()) {
    meta.vm_config = it->is_string() ? it->get<std::string>() : it->dump();
  }
  out->emplace(name, std::move(meta));
}

// A filter with a schema takes JSON that the schema accepts.
bool check_config(const std::string& name, const std::string& config, std::string* error) {
  const config::JsonSchema* schema = FilterRegistry::instance().schema(name);
  if (schema == nullptr) return true;
  nlohmann::json value = nlohmann::json::parse(config, nullptr, false);
  if (value.is_discarded()) {
    *error = "filter '" + name + "' expects a JSON configuration (it has a schema)";
    return false;
  }
  std::string why;
  if (!schema->validate(value, "config", &why)) {
    *error = "filter '" + name + "' configuration is invalid: " + why;
    return false;
  }
  return true;
}

}  // namespace

FilterRegistry& FilterRegistry::instance() {
  static FilterRegistry r;
  return r;
}

void FilterRegistry::scan(const std::string& dir, const std::string& cache_dir, std::vector<std::string>* errors) {
  if (dir.empty()) return;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    errors->push_back("filters directory '" + dir + "' cannot be opened");
    return;
  }
  std::unordered_map<std::string, std::shared_ptr<const Module>> found;
  std::unordered_map<std::string, FilterMeta> metas;
  while (dirent* e = readdir(d)) {
    std::string file = e->d_name;
    if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".wasm") != 0) continue;
    std::string name = file.substr(0, file.size() - 5);
    std::ifstream in(dir + "/" + file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string bytes = ss.str();
    std::string error;
    auto mod = Engine::instance().compile(name, bytes, cache_dir, &error);
    if (!mod) {
      errors->push_back("filter '" + name + "': " + error);
      continue;
    }
    Abi abi;
    if (!detect_abi(*mod, &abi)) {
      errors->push_back("filter '" + name + "': missing or unknown Proxy-Wasm ABI version");
      continue;
    }
    found[name] = mod;
    load_meta(dir, name, &metas, errors);
  }
  closedir(d);
  modules_ = std::move(found);
  metas_ = std::move(metas);
}

const config::JsonSchema* FilterRegistry::schema(const std::string& name) const {
  const FilterMeta& m = meta(name);
  return m.config_schema ? &*m.config_schema : nullptr;
}

const FilterMeta& FilterRegistry::meta(const std::string& name) const {
  static const FilterMeta kNone;
  auto it = metas_.find(name);
  return it == metas_.end() ? kNone : it->second;
}

std::shared_ptr<const Module> FilterRegistry::find(const std::string& name) const {
  auto it = modules_.find(name);
  return it == modules_.end() ? nullptr : it->second;
}

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : modules_) out.push_back(n);
  return out;
}

namespace {

constexpr size_t kMaxRemembered = 4096;  // configurations starts() remembers

// Sets up a config's filters in each worker (see WorkerFilters::prepare).
class PlanSetup final : public pipeline::WorkerSetup {
 public:
  explicit PlanSetup(FilterPlan plan) : plan_(std::move(plan)) {}
  void setup_worker() const override {
    if (WorkerFilters* w = WorkerFilters::current()) w->prepare(plan_);
  }

 private:
  FilterPlan plan_;
};

// A chain entry with what NAME.meta.json adds: the entry's root_id wins
// over the file's (Envoy's root_id is per plugin, so per entry).
FilterRef make_ref(const config::FilterEntry& f, std::shared_ptr<const Module> mod) {
  const FilterMeta& meta = FilterRegistry::instance().meta(f.name);
  FilterRef ref;
  ref.name = f.name;
  ref.root_id = f.has_root_id ? f.root_id : meta.root_id;
  ref.config = f.config;
  ref.vm_config = meta.vm_config;
  ref.module = std::move(mod);
  ref.key = ref.name + std::string(1, '\0') + ref.root_id + std::string(1, '\0') + ref.config;
  return ref;
}

// Whether the filter starts with its configuration: on_vm_start and
// on_configure in a scratch VM, against scratch shared data and queues (a
// check must not disturb what live filters share, nor log as they do). A
// configuration this process already started with the same module and VM
// configuration is not checked again (as Envoy's canary cache), so a
// reload of an unchanged config starts nothing but what the workers keep.
bool starts(const FilterRef& f, const Limits& limits, std::string* error) {
  static std::mutex mu;
  static std::unordered_set<std::string> started;
  const std::string key = f.module->hash() + std::string(1, '\0') + f.vm_config + std::string(1, '\0') + f.key;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (started.count(key) != 0) return true;
  }
  SharedState scratch;
  auto vm = FilterVm::create(f.module, limits, VmSetup{f.vm_config, &scratch}, error);
  if (!vm || vm->add_root(f.name, f.root_id, f.config, error) == 0) return false;
  std::lock_guard<std::mutex> lock(mu);
  if (started.size() >= kMaxRemembered) started.clear();  // many distinct configs over time: start over
  started.insert(key);
  return true;
}

FilterPlan build_plan(const config::Declarative& decl, const Limits& limits, std::vector<std::string>* errors) {
  FilterPlan plan;
  plan.by_route.resize(decl.routes.size());
  // Chains resolved to modules, checked once each by configuring a scratch VM.
  std::vector<std::vector<FilterRef>> chains(decl.filter_chains.size());
  for (size_t i = 0; i < decl.filter_chains.size(); ++i) {
    const auto& chain = decl.filter_chains[i];
    std::string label = chain.name.empty() ? std::to_string(i) : chain.name;
    if (!chain.enabled) continue;
    for (const auto& f : chain.filters) {
      if (!f.enabled) continue;
      auto mod = FilterRegistry::instance().find(f.name);
      if (!mod) {
        errors->push_back("filter_chain '" + label + "' field 'filters': no such filter: '" + f.name + "'");
        continue;
      }
      std::string error;
      if (!check_config(f.name, f.config, &error)) {
        errors->push_back("filter_chain '" + label + "' field 'filters': " + error);
        continue;
      }
      FilterRef ref = make_ref(f, mod);
      if (!starts(ref, limits, &error)) {
        errors->push_back("filter_chain '" + label + "' field 'filters': filter '" + f.name +
                          "' refused its configuration: " + error);
        continue;
      }
      chains[i].push_back(std::move(ref));
    }
  }
  // A route runs its service's chain first, then its own (Kong 3.4+).
  for (size_t r = 0; r < decl.routes.size(); ++r) {
    for (size_t i = 0; i < decl.filter_chains.size(); ++i) {
      const auto& c = decl.filter_chains[i];
      if (c.service >= 0 && c.service == decl.routes[r].service) {
        plan.by_route[r].insert(plan.by_route[r].end(), chains[i].begin(), chains[i].end());
      }
    }
    for (size_t i = 0; i < decl.filter_chains.size(); ++i) {
      if (decl.filter_chains[i].route == static_cast<int>(r)) {
        plan.by_route[r].insert(plan.by_route[r].end(), chains[i].begin(), chains[i].end());
      }
    }
  }
  static std::atomic<uint64_t> plans{0};
  const uint64_t id = plans.fetch_add(1, std::memory_order_relaxed) + 1;
  uint32_t slot = 0;
  for (auto& chain : plan.by_route) {
    for (FilterRef& f : chain) {
      f.plan_id = id;
      f.slot = slot++;
    }
  }
  plan.slots = slot;
  plan.id = id;
  return plan;
}

}  // namespace

std::shared_ptr<pipeline::ChainSet> build_chains(const config::Declarative& decl, const Limits& limits,
                                                       std::vector<std::string>* errors) {
  auto set = std::make_shared<pipeline::ChainSet>();
  FilterPlan plan = build_plan(decl, limits, errors);
  set->by_route.resize(plan.by_route.size());
  for (size_t r = 0; r < plan.by_route.size(); ++r) {
    for (const FilterRef& f : plan.by_route[r]) set->by_route[r].add(std::make_shared<FilterHandler>(f));
  }
  set->worker_setups.push_back(std::make_shared<PlanSetup>(std::move(plan)));
  return set;
}

thread_local WorkerFilters* WorkerFilters::current_ = nullptr;

bool parse_isolation(const std::string& s, Isolation* out) {
  if (s == "none") {
    *out = Isolation::None;
  } else if (s == "filter") {
    *out = Isolation::Filter;
  } else if (s == "stream") {
    *out = Isolation::Stream;
  } else {
    return false;
  }
  return true;
}

// One VM per module and VM configuration (Envoy's vm_key), or per filter
// configuration. A reload that keeps both keeps the VM and its state.
std::string WorkerFilters::entry_key(const FilterRef& f) const {
  std::string key = f.module->hash() + std::string(1, '\0') + f.vm_config;
  if (isolation_ == Isolation::Filter) key += std::string(1, '\0') + f.key;
  return key;
}

// Not instantiated yet in this worker, replaced after a trap, of an older
// plan, or a fresh instance per request (isolation "stream").
WorkerFilters::Handle WorkerFilters::get_slow(const FilterRef& f) {
  if (isolation_ == Isolation::Stream) return instantiate(f);
  const bool current = f.plan_id == plan_id_ && f.slot < by_slot_.size();
  Handle h = instantiate(f);
  if (h.vm && current) by_slot_[f.slot] = h;
  return h;
}

WorkerFilters::Handle WorkerFilters::instantiate(const FilterRef& f) {
  Entry scratch;
  Entry& e = isolation_ == Isolation::Stream ? scratch : entries_[entry_key(f)];
  if (e.vm && e.vm->broken()) {
    // Replace the instance that trapped; its other requests already failed.
    e.vm.reset();
    e.roots.clear();
  }
  if (!e.vm) {
    std::string error;
    std::unique_ptr<FilterVm> vm = FilterVm::create(f.module, limits_, VmSetup{f.vm_config, nullptr}, &error);
    if (!vm) {
      WG_LOG(Error, "filter %s: cannot instantiate: %s", f.name.c_str(), error.c_str());
      return {};
    }
    vm->set_hooks(hooks_);
    e.vm = std::shared_ptr<FilterVm>(vm.release());
  }
  auto it = e.roots.find(f.key);
  if (it == e.roots.end()) {
    std::string error;
    uint32_t root = e.vm->add_root(f.name, f.root_id, f.config, &error);
    if (root == 0) {
      WG_LOG(Error, "filter %s: cannot configure: %s", f.name.c_str(), error.c_str());
      return {};
    }
    it = e.roots.emplace(f.key, root).first;
  }
  return {e.vm, it->second};
}

void WorkerFilters::prepare(const FilterPlan& plan) {
  plan_id_ = plan.id;
  by_slot_.assign(plan.slots, Handle());
  quiet_until_ms_ = 0;
  if (isolation_ == Isolation::Stream) return;  // nothing outlives a request
  std::unordered_map<std::string, bool> live;
  for (const auto& chain : plan.by_route) {
    for (const auto& f : chain) {
      if (live.emplace(f.key, true).second) get(f);
    }
  }
  for (auto entry = entries_.begin(); entry != entries_.end();) {
    Entry& e = entry->second;
    for (auto it = e.roots.begin(); e.vm && it != e.roots.end();) {
      if (live.count(it->first)) {
        ++it;
        continue;
      }
      // A root of an older config: no more ticks or queue deliveries.
      uint32_t root = it->second;
      auto& ticks = e.vm->tick_timers();
      std::erase_if(ticks, [root](const FilterVm::TickTimer& t) { return t.root == root; });
      auto& queues = e.vm->queue_registrations();
      std::erase_if(queues, [root](const FilterVm::QueueRegistration& q) { return q.root == root; });
      it = e.roots.erase(it);
    }
    // A module no config uses any more (requests still on it keep it alive).
    entry = e.roots.empty() ? entries_.erase(entry) : std::next(entry);
  }
}

// How long run_timers() may skip its scan (see there).
constexpr uint64_t kQuietMs = 10;

// Whether vm has a tick due or a queue with new items (no locks: this runs
// on every event-loop turn).
static bool due(FilterVm& vm, uint64_t now_ms) {
  for (const auto& t : vm.tick_timers()) {
    if (t.next_ms == 0 || now_ms >= t.next_ms) return true;
  }
  for (const auto& q : vm.queue_registrations()) {
    if (q.enqueued != nullptr && q.enqueued->load(std::memory_order_acquire) != q.seen) return true;
  }
  return false;
}

uint64_t WorkerFilters::run_timers(uint64_t now_ms, uint64_t max_wait_ms) {
  // Most loop turns have nothing to do here: no queue to poll, no tick
  // due, stats flushed a moment ago. A tick or queue a filter sets up in
  // such a window starts at most kQuietMs late.
  // How long the loop may sleep: until the earliest tick, at most max_wait_ms.
  auto wait = [&] { return next_tick_ms_ <= now_ms ? 0 : std::min(max_wait_ms, next_tick_ms_ - now_ms); };
  if (!polls_queues_ && now_ms < quiet_until_ms_) return wait();
  uint64_t next_tick = UINT64_MAX;
  bool polls = false;
  // Callbacks may resume requests, which may ask for VMs: work on a copy,
  // made only when something is due.
  std::vector<std::shared_ptr<FilterVm>> vms;
  for (auto& [key, e] : entries_) {
    if (e.vm) e.vm->flush_stats(now_ms);
    if (!e.vm || e.vm->broken()) continue;
    if (due(*e.vm, now_ms)) {
      vms.push_back(e.vm);
      continue;
    }
    for (const auto& t : e.vm->tick_timers()) next_tick = std::min(next_tick, t.next_ms);
    polls = polls || !e.vm->queue_registrations().empty();
  }
  for (auto& vm : vms) {
    for (size_t i = 0; i < vm->tick_timers().size(); ++i) {
      FilterVm::TickTimer t = vm->tick_timers()[i];
      if (t.next_ms == 0) t.next_ms = now_ms + t.period_ms;
      if (now_ms >= t.next_ms) {
        t.next_ms = now_ms + t.period_ms;
        vm->tick_timers()[i].next_ms = t.next_ms;
        vm->on_tick(t.root);
        if (vm->broken()) break;
      } else {
        vm->tick_timers()[i].next_ms = t.next_ms;
      }
      next_tick = std::min(next_tick, t.next_ms);
    }
    polls = polls || !vm->queue_registrations().empty();
    for (size_t i = 0; i < vm->queue_registrations().size() && !vm->broken(); ++i) {
      FilterVm::QueueRegistration& q = vm->queue_registrations()[i];
      uint64_t n = q.enqueued != nullptr ? q.enqueued->load(std::memory_order_acquire) : q.seen;
      if (n == q.seen) continue;
      q.seen = n;
      vm->on_queue_ready(q.root, q.queue_id);
    }
  }
  next_tick_ms_ = next_tick;
  polls_queues_ = polls;
  quiet_until_ms_ = now_ms + kQuietMs;
  return wait();
}

}  // namespace wg::wasm

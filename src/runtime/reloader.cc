#include "runtime/reloader.h"

#include <unistd.h>

#include "config/loader.h"
#include "core/log.h"
#include "lua/lua_plugins.h"
#include "lua/shared_dict.h"
#include "plugins/chains.h"
#include "plugins/plugin.h"

namespace wg::runtime {
namespace {

bool load_config(const core::Settings& s, const std::string* text, const config::Value* store,
                 config::Declarative& decl, std::vector<std::string>& errors, config::Normalized* normalized) {
  if (store != nullptr) {
    config::load_normalized(*store, decl);
    return true;
  }
  if (text != nullptr) return config::load_text(*text, decl, errors, normalized);
  if (s.config_path.empty()) return config::load_text(config::kDemoConfig, decl, errors, normalized);
  return config::load_file(s.config_path, decl, errors, normalized);
}

}  // namespace

lua::Limits lua_limits(const core::Settings& s) {
  lua::Limits l;
  l.instructions = static_cast<uint64_t>(s.lua_budget_millions) * 1'000'000;
  l.memory_bytes = static_cast<size_t>(s.lua_memory_mb) << 20;
  return l;
}

wasm::Limits wasm_limits(const core::Settings& s) {
  wasm::Limits l;
  l.call_budget_ms = static_cast<uint32_t>(s.wasm_budget_ms);
  l.max_memory_bytes = static_cast<uint64_t>(s.wasm_memory_mb) << 20;
  return l;
}

namespace {

// Everything a snapshot needs but its compile (which only warns): the
// config loaded, the filters directory scanned, the Wasm filter chains and
// the bundled and Lua plugins built. False with every problem in errors.
bool prepare(const core::Settings& s, std::vector<std::string>& errors, const std::string* text,
             config::Normalized* normalized, const config::Value* store, config::Declarative& decl,
             std::shared_ptr<pipeline::ChainSet>& chains) {
  plugins::register_bundled();  // before loading: their schemas validate plugin configs
  lua::register_lua_plugins(s.lua_plugins_dir, lua_limits(s), &errors);
  if (std::string why; !lua::declare_shared_dicts(s.lua_shared_dicts, &why)) {
    errors.push_back("--lua-shared-dict: " + why);
  }
  if (!errors.empty()) return false;
  if (!load_config(s, text, store, decl, errors, normalized)) return false;
  for (const auto& w : decl.warnings) WG_LOG(Warn, "%s", w.c_str());
  std::string filters_dir = s.filters_dir;
  if (filters_dir.empty() && s.config_path.empty()) {
    // The demo config's filter is built next to the binary (build/filters).
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      std::string path(exe, static_cast<size_t>(n));
      filters_dir = path.substr(0, path.rfind('/')) + "/filters";
    }
  }
  wasm::FilterRegistry::instance().scan(filters_dir, s.wasm_cache_dir, &errors);
  if (!decl.filter_chains.empty() && filters_dir.empty()) {
    errors.push_back("config 'root' field 'filter_chains': no filters directory (--filters-dir) is set");
  }
  if (!errors.empty()) return false;
  chains = wasm::build_chains(decl, wasm_limits(s), &errors);
  plugins::add_plugin_chains(decl, *chains, &errors);
  return errors.empty();
}

}  // namespace

std::shared_ptr<const config::Snapshot> build_snapshot(const core::Settings& s, uint64_t generation,
                                                       std::vector<std::string>& errors, const std::string* text,
                                                       config::Normalized* normalized, const config::Value* store) {
  config::Declarative decl;
  std::shared_ptr<pipeline::ChainSet> chains;
  if (!prepare(s, errors, text, normalized, store, decl, chains)) return nullptr;
  auto snap = config::compile(std::move(decl), generation, std::move(chains));
  for (const auto& w : snap->warnings) WG_LOG(Warn, "%s", w.c_str());
  return snap;
}

bool Reloader::load_initial(std::vector<std::string>* errors, std::shared_ptr<const config::Value> store) {
  std::lock_guard<std::mutex> lock(mu_);
  return publish(*errors, nullptr, nullptr, std::move(store));
}

bool Reloader::publish_store(std::shared_ptr<const config::Value> entities) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> errors;
  if (!publish(errors, nullptr, nullptr, std::move(entities))) {
    std::string all;
    for (const auto& e : errors) all += "\n  " + e;
    WG_LOG(Error, "publishing the store's entities failed; the previous config keeps serving:%s", all.c_str());
    return false;
  }
  WG_LOG(Info, "store changes published (generation %llu)", static_cast<unsigned long long>(generation_));
  return true;
}

bool Reloader::reload(std::vector<std::string>* errors_out) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> errors;
  if (!publish(errors, nullptr)) {
    std::string all;
    for (const auto& e : errors) all += "\n  " + e;
    WG_LOG(Error, "config reload failed: %zu problem(s); the previous config keeps serving:%s", errors.size(),
           all.c_str());
    if (errors_out) *errors_out = std::move(errors);
    return false;
  }
  WG_LOG(Notice, "config reloaded (generation %llu)", static_cast<unsigned long long>(generation_));
  return true;
}

bool Reloader::apply_text(const std::string& text, config::Normalized* normalized, std::vector<std::string>* errors) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!publish(*errors, &text, normalized)) return false;
  WG_LOG(Notice, "config replaced through the Admin API (generation %llu)",
         static_cast<unsigned long long>(generation_));
  return true;
}

// Builds from the file (or `text`) and publishes; the caller holds mu_.
// A refused config's normalized form (its problems) goes to *failed.
bool Reloader::publish(std::vector<std::string>& errors, const std::string* text, config::Normalized* failed,
                       std::shared_ptr<const config::Value> store) {
  config::Normalized n;
  auto snap = build_snapshot(shared_.settings, generation_ + 1, errors, text, &n, store.get());
  if (!snap) {
    if (failed != nullptr) *failed = std::move(n);
    return false;
  }
  ++generation_;
  entities_ = store ? std::move(store) : std::make_shared<const config::Value>(std::move(n.config));
  shared_.snapshots.publish(std::move(snap));
  return true;
}

void Reloader::refresh_dns() {
  std::lock_guard<std::mutex> lock(mu_);
  auto current = shared_.snapshots.get();
  auto snap = config::compile(current->decl, ++generation_, current->chains);
  for (const auto& w : snap->warnings) WG_LOG(Warn, "%s", w.c_str());
  shared_.snapshots.publish(std::move(snap));
  WG_LOG(Info, "names resolved again (generation %llu)", static_cast<unsigned long long>(generation_));
}

bool Reloader::check_store(const config::Value& entities, std::vector<std::string>* errors) {
  std::lock_guard<std::mutex> lock(mu_);
  config::Declarative decl;
  std::shared_ptr<pipeline::ChainSet> chains;
  return prepare(shared_.settings, *errors, nullptr, nullptr, &entities, decl, chains);
}

std::vector<Reloader::LoadedFilter> Reloader::filters() const {
  std::lock_guard<std::mutex> lock(mu_);  // a build rescans the registry
  const wasm::FilterRegistry& registry = wasm::FilterRegistry::instance();
  std::vector<LoadedFilter> out;
  for (const auto& name : registry.names()) {
    LoadedFilter f{name, registry.find(name), registry.meta(name).config_schema_json};
    out.push_back(std::move(f));
  }
  return out;
}

std::shared_ptr<const config::Value> Reloader::entities() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entities_;
}

uint64_t Reloader::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

}  // namespace wg::runtime

// Building and publishing config snapshots: the first load, and the one
// reload path every trigger goes through (SIGHUP today, the Admin API
// later), plus the recompile that resolves names again when their TTL ran
// out. A snapshot is built off the event loops and published with one
// pointer swap (config::SnapshotHolder); a config that fails is refused and
// the previous one keeps serving.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/declarative.h"
#include "config/snapshot.h"
#include "lua/vm.h"
#include "core/settings.h"
#include "runtime/worker.h"
#include "wasm/filters.h"

namespace wg::runtime {

// The Wasm limits the --wasm-* settings give.
wasm::Limits wasm_limits(const core::Settings& s);
// The --lua-* limits of a worker's Lua state.
lua::Limits lua_limits(const core::Settings& s);

// Loads the config file (the embedded demo config when none is set), scans
// the filters directory and compiles a snapshot with this generation;
// nullptr with every problem in errors when the config must be refused.
// Used by `wasmgate check` too.
// With `text`, that config instead of the file's; with `normalized`, the
// loaded config as normalized JSON (and its problems) is kept there. With
// `store`, the store's contents (normalized already) instead of either.
std::shared_ptr<const config::Snapshot> build_snapshot(const core::Settings& s, uint64_t generation,
                                                       std::vector<std::string>& errors,
                                                       const std::string* text = nullptr,
                                                       config::Normalized* normalized = nullptr,
                                                       const config::Value* store = nullptr);

class Reloader {
 public:
  explicit Reloader(Shared& shared) : shared_(shared) {}

  // The first config: built and published, or false with its problems.
  // With `store`, that config (the store's contents) instead of the file.
  bool load_initial(std::vector<std::string>* errors, std::shared_ptr<const config::Value> store = nullptr);
  // Reads the config file again and publishes it; on failure logs every
  // problem, keeps the running config and returns false (problems in
  // *errors when given). Safe from any thread: reloads are serialised.
  bool reload(std::vector<std::string>* errors = nullptr);
  // Kong's DB-less POST /config: `text` (a declarative config) replaces the
  // running config; the file is left as it is (a SIGHUP reads it again).
  // On failure nothing changes, and the problems are in *normalized /
  // *errors.
  bool apply_text(const std::string& text, config::Normalized* normalized, std::vector<std::string>* errors);
  // Database mode: publishes the store's contents (`entities`, a
  // normalized config) after API writes; on failure logs every problem and
  // keeps the running config.
  bool publish_store(std::shared_ptr<const config::Value> entities);
  // Database mode, before a write is committed: whether `entities` (a
  // normalized config: the entity written and what it references) would
  // build (its filter chains, its plugins' builds), without publishing;
  // false with the problems in *errors. Waits for a build in progress.
  bool check_store(const config::Value& entities, std::vector<std::string>* errors);
  // Recompiles the running config (not the file) so names are resolved
  // again.
  void refresh_dns();
  uint64_t generation() const;
  // The filters directory's filters as the last build loaded them.
  struct LoadedFilter {
    std::string name;
    std::shared_ptr<const wasm::Module> module;
    config::Value config_schema;  // NAME.meta.json's, as written; null: none
  };
  std::vector<LoadedFilter> filters() const;
  // The running config's entities as normalized JSON (ids, defaults,
  // references as {"id": ...}): what the Admin API reads.
  std::shared_ptr<const config::Value> entities() const;

 private:
  Shared& shared_;
  mutable std::mutex mu_;  // one build-and-publish at a time
  uint64_t generation_ = 0;
  std::shared_ptr<const config::Value> entities_;

  bool publish(std::vector<std::string>& errors, const std::string* text, config::Normalized* failed = nullptr,
               std::shared_ptr<const config::Value> store = nullptr);
};

}  // namespace wg::runtime

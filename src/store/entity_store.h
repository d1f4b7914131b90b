// The store's contents as one normalized config (Kong's declarative shape,
// the one GET /config shows), held in memory next to the store so reads
// and the validation of a write never query the database: a write builds
// the next config, commits its changed rows in one transaction and only
// then makes that config current. Written by the admin thread; current()
// may be read from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/value.h"
#include "store/store.h"

namespace wg::store {

class EntityStore {
 public:
  // Opens the store (`spec` as open_store takes it) and reads every row.
  static std::unique_ptr<EntityStore> open(const std::string& spec, std::string* error);

  std::shared_ptr<const config::Value> current() const;
  // Commits `changes` in one transaction, then makes `next` (the config
  // with those changes) current; on failure nothing changes.
  bool commit(config::Value next, const std::vector<Change>& changes, std::string* error);
  // Whether the store was ever filled; seed() fills a fresh one with every
  // entity of a normalized config (the --config file or the demo).
  bool seeded() { return store_->seeded(); }
  bool seed(const config::Value& normalized, std::string* error);

 private:
  explicit EntityStore(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  std::unique_ptr<Store> store_;
  mutable std::mutex mu_;  // guards current_ (the pointer, not what it points at)
  std::shared_ptr<const config::Value> current_;
};

// An empty normalized config: the format version and an empty list per
// entity type; `_transform` false, as stored passwords are hashed already.
config::Value empty_config();
// The row that writes `entity` (an object with an "id") of `type`.
Change put_row(const std::string& type, const config::Value& entity);
Change delete_row(const std::string& type, const std::string& id);

}  // namespace wg::store

#include "store/entity_store.h"

#include "config/entity_schemas.h"

namespace wg::store {

config::Value empty_config() {
  config::Value v = config::Value::object();
  v["_format_version"] = "3.0";
  v["_transform"] = false;
  for (const auto* s : config::entity_schemas()) v[s->name] = config::Value::array();
  return v;
}

Change put_row(const std::string& type, const config::Value& entity) {
  return Change{type, entity.value("id", ""), config::to_json(entity)};
}

Change delete_row(const std::string& type, const std::string& id) { return Change{type, id, ""}; }

std::unique_ptr<EntityStore> EntityStore::open(const std::string& spec, std::string* error) {
  std::unique_ptr<Store> store = open_store(spec, error);
  if (!store) return nullptr;
  std::vector<Row> rows;
  if (!store->rows(&rows, error)) return nullptr;
  config::Value all = empty_config();
  for (const auto& row : rows) {
    auto list = all.find(row.type);
    config::Value entity = config::Value::parse(row.json, nullptr, false);
    if (list == all.end() || !entity.is_object()) {
      *error = "the store holds an unreadable " + row.type + " row (id " + row.id + ")";
      return nullptr;
    }
    list->push_back(std::move(entity));
  }
  std::unique_ptr<EntityStore> out(new EntityStore(std::move(store)));
  out->current_ = std::make_shared<const config::Value>(std::move(all));
  return out;
}

std::shared_ptr<const config::Value> EntityStore::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

bool EntityStore::commit(config::Value next, const std::vector<Change>& changes, std::string* error) {
  if (!store_->apply(changes, error)) return false;
  auto published = std::make_shared<const config::Value>(std::move(next));
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(published);
  return true;
}

bool EntityStore::seed(const config::Value& normalized, std::string* error) {
  config::Value next = empty_config();
  std::vector<Change> rows;
  for (const auto* s : config::entity_schemas()) {
    auto list = normalized.find(s->name);
    if (list == normalized.end() || !list->is_array()) continue;
    for (const auto& entity : *list) {
      rows.push_back(put_row(s->name, entity));
      next[s->name].push_back(entity);
    }
  }
  return commit(std::move(next), rows, error) && store_->mark_seeded(error);
}

}  // namespace wg::store

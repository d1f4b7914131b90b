// Where entities live when the gateway runs with a database (--database
// sqlite:PATH): rows of normalized entity JSON keyed by entity type and id,
// written in atomic transactions. The SQLite backend (sqlite_store.cc) is
// the embedded one; a PostgreSQL backend for several nodes would implement
// the same interface. A Store is used from one thread (the admin thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace wg::store {

struct Row {
  std::string type;  // Kong's entity type, plural: "services"
  std::string id;
  std::string json;  // the normalized entity
};

// One change of a transaction: `json` empty deletes the row.
using Change = Row;

class Store {
 public:
  virtual ~Store() = default;
  // Every row, in the order they were first written.
  virtual bool rows(std::vector<Row>* out, std::string* error) = 0;
  // Applies every change or none; true once the changes are durable.
  virtual bool apply(const std::vector<Change>& changes, std::string* error) = 0;
  // Whether the store was ever given its first contents (seeded), so an
  // emptied store is not seeded again on the next start.
  virtual bool seeded() = 0;
  virtual bool mark_seeded(std::string* error) = 0;
};

// "sqlite:PATH" opens (creating when absent) that SQLite file; null with
// *error on a bad spec or a store that cannot be opened.
std::unique_ptr<Store> open_store(const std::string& spec, std::string* error);

}  // namespace wg::store

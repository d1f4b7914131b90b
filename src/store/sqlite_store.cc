// The embedded store: one SQLite file in WAL mode. synchronous=FULL makes
// every commit fsync the WAL before it returns, so an acknowledged write
// survives kill -9 and power loss (NORMAL would survive kill -9 only: the
// WAL is in the page cache, not on disk). Writes are rare next to proxied
// requests and happen on the admin thread, so the fsync costs no request.
#include <sqlite3.h>

#include <filesystem>
#include <system_error>

#include "store/store.h"

namespace wg::store {
namespace {

const char* kSchema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS entities ("
    "  type TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (type, id));"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

// A prepared statement, finalized when it goes out of scope.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr); }
  ~Statement() { sqlite3_finalize(stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  void bind(int i, const std::string& s) { sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
};

std::string column(sqlite3_stmt* stmt, int i) {
  const unsigned char* text = sqlite3_column_text(stmt, i);
  return text != nullptr ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt, i)))
                         : std::string();
}

class SqliteStore : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  bool rows(std::vector<Row>* out, std::string* error) override {
    // rowid keeps the order rows were first inserted (an upsert keeps it).
    Statement s(db_, "SELECT type, id, json FROM entities ORDER BY rowid");
    int rc;
    while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
      out->push_back(Row{column(s.stmt, 0), column(s.stmt, 1), column(s.stmt, 2)});
    }
    return rc == SQLITE_DONE || fail(error);
  }

  bool apply(const std::vector<Change>& changes, std::string* error) override {
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    Statement put(db_,
                  "INSERT INTO entities (type, id, json) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (type, id) DO UPDATE SET json = excluded.json");
    Statement erase(db_, "DELETE FROM entities WHERE type = ?1 AND id = ?2");
    for (const auto& c : changes) {
      Statement& s = c.json.empty() ? erase : put;
      sqlite3_reset(s.stmt);
      s.bind(1, c.type);
      s.bind(2, c.id);
      if (!c.json.empty()) s.bind(3, c.json);
      if (sqlite3_step(s.stmt) != SQLITE_DONE) {
        fail(error);
        exec("ROLLBACK", nullptr);
        return false;
      }
    }
    if (exec("COMMIT", error)) return true;
    exec("ROLLBACK", nullptr);
    return false;
  }

  bool seeded() override {
    Statement s(db_, "SELECT value FROM meta WHERE key = 'seeded'");
    return sqlite3_step(s.stmt) == SQLITE_ROW;
  }

  bool mark_seeded(std::string* error) override {
    return exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('seeded', '1')", error);
  }

 private:
  sqlite3* db_;

  bool exec(const char* sql, std::string* error) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
    if (error != nullptr) *error = msg != nullptr ? msg : "sqlite error";
    sqlite3_free(msg);
    return false;
  }

  bool fail(std::string* error) {
    if (error != nullptr) *error = sqlite3_errmsg(db_);
    return false;
  }
};

}  // namespace

std::unique_ptr<Store> open_store(const std::string& spec, std::string* error) {
  const std::string prefix = "sqlite:";
  if (spec.compare(0, prefix.size(), prefix) != 0 || spec.size() == prefix.size()) {
    *error = "unknown database '" + spec + "' (expected sqlite:PATH or off)";
    return nullptr;
  }
  std::string path = spec.substr(prefix.size());
  // A store in a directory not made yet (the default one under
  // $XDG_STATE_HOME): made here, as `mkdir -p` would.
  if (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    std::error_code ec;
    std::filesystem::create_directories(path.substr(0, slash), ec);
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    *error = "cannot open " + path + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, 5000);
  char* msg = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &msg) != SQLITE_OK) {
    *error = "cannot set up " + path + ": " + (msg != nullptr ? msg : "sqlite error");
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return std::make_unique<SqliteStore>(db);
}

}  // namespace wg::store

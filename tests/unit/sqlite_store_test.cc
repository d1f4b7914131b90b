#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "store/entity_store.h"
#include "store/store.h"

using wg::store::Change;
using wg::store::EntityStore;
using wg::store::Row;

namespace {

std::string temp_db() {
  char dir[] = "/tmp/wg-store-XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr);
  return std::string("sqlite:") + dir + "/kong.db";
}

TEST(SqliteStore, TransactionsApplyWhollyAndKeepInsertionOrder) {
  std::string spec = temp_db(), error;
  auto store = wg::store::open_store(spec, &error);
  ASSERT_TRUE(store) << error;
  EXPECT_FALSE(store->seeded());
  ASSERT_TRUE(store->apply({{"services", "b", "{\"id\":\"b\"}"}, {"services", "a", "{\"id\":\"a\"}"}}, &error));
  ASSERT_TRUE(store->apply({{"services", "b", "{\"id\":\"b\",\"x\":1}"}, {"services", "a", ""}}, &error));
  ASSERT_TRUE(store->mark_seeded(&error));
  store.reset();
  store = wg::store::open_store(spec, &error);
  std::vector<Row> rows;
  ASSERT_TRUE(store->rows(&rows, &error));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].json, "{\"id\":\"b\",\"x\":1}");
  EXPECT_TRUE(store->seeded());
}

TEST(SqliteStore, BadSpecsAreRefused) {
  std::string error;
  EXPECT_FALSE(wg::store::open_store("postgres://x", &error));
  EXPECT_NE(error.find("sqlite:PATH"), std::string::npos);
  // A directory that cannot be made (/dev/null is a file).
  EXPECT_FALSE(wg::store::open_store("sqlite:/dev/null/x/y.db", &error));
}

TEST(SqliteStore, MakesItsDirectories) {
  std::string dir = ::testing::TempDir() + "wg-store-dirs-" + std::to_string(::getpid());
  std::string error;
  EXPECT_TRUE(wg::store::open_store("sqlite:" + dir + "/a/b/x.db", &error)) << error;
  EXPECT_EQ(::access((dir + "/a/b/x.db").c_str(), F_OK), 0);
  std::filesystem::remove_all(dir);
}

TEST(EntityStore, SeedsCommitsAndReadsBack) {
  std::string spec = temp_db(), error;
  auto store = EntityStore::open(spec, &error);
  ASSERT_TRUE(store) << error;
  wg::config::Value seed = wg::store::empty_config();
  seed["services"].push_back({{"id", "s1"}, {"name", "one"}});
  ASSERT_TRUE(store->seed(seed, &error)) << error;
  wg::config::Value next = *store->current();
  next["consumers"].push_back({{"id", "c1"}, {"username", "u"}});
  ASSERT_TRUE(store->commit(next, {wg::store::put_row("consumers", next["consumers"][0])}, &error));
  store.reset();
  store = EntityStore::open(spec, &error);
  ASSERT_TRUE(store) << error;
  EXPECT_TRUE(store->seeded());
  EXPECT_EQ((*store->current())["services"][0]["name"], "one");
  EXPECT_EQ((*store->current())["consumers"][0]["username"], "u");
}

}  // namespace

// Kong's schema DSL (a plugin's schema.lua) translated onto the schema
// engine: types, defaults, bounds, lengths, patterns, custom validators
// (called back into Lua), nested records, maps, and entity checks, with the
// engine's (Kong's) messages.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/schema.h"
#include "lua/schema_dsl.h"
#include "lua/vm.h"

using namespace wg;

namespace {

// Evaluates `source` (a schema.lua) and translates it.
bool translate(const std::shared_ptr<lua::LockedVm>& vm, const char* source, lua::PluginSchema* out,
               std::string* error) {
  std::lock_guard<std::mutex> lock(vm->mu);
  lua_State* L = vm->vm->state();
  EXPECT_EQ(luaL_loadstring(L, source), 0) << lua_tostring(L, -1);
  EXPECT_EQ(vm->vm->pcall(0, 1), 0) << lua_tostring(L, -1);
  bool ok = lua::translate_schema(vm, -1, out, error);
  lua_pop(L, 1);
  return ok;
}

std::shared_ptr<lua::LockedVm> make_vm() {
  auto vm = std::make_shared<lua::LockedVm>();
  vm->vm = std::make_unique<lua::Vm>(lua::Limits{}, "");
  return vm;
}

// "field: message" per problem of `conf` against the config record.
std::vector<std::string> problems(const lua::PluginSchema& s, config::Value& conf) {
  std::vector<config::FieldError> errors;
  std::vector<std::string> path{"config"};
  config::schema::validate_field(s.config, conf, path, errors);
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.field() + ": " + e.message);
  return out;
}

const char* kSchema = R"lua(
local typedefs = require "kong.db.schema.typedefs"
return {
  name = "t",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = { type = "record", fields = {
      { mode = { type = "string", default = "a", one_of = { "a", "b" } } },
      { n = { type = "integer", default = 3, between = { 1, 5 } } },
      { ratio = { type = "number" } },
      { list = { type = "array", default = {}, elements = { type = "string", len_max = 3 } } },
      { word = { type = "string", match = "^%l+$" } },
      { odd = { type = "integer", custom_validator = function(v)
          if v % 2 == 1 then return true end
          return nil, "not odd: " .. v
        end } },
      { nested = { type = "record", fields = { { port = typedefs.port { default = 8080 } } } } },
      { labels = { type = "map", keys = { type = "string" }, values = { type = "integer" } } },
      { a = { type = "string" } },
      { b = { type = "string" } },
    }, entity_checks = {
      { only_one_of = { "a", "b" } },
      { conditional = { if_field = "mode", if_match = { eq = "b" }, then_field = "ratio", then_match = { required = true } } },
      { custom_entity_check = { field_sources = { "n", "list" }, fn = function(e)
          if #e.list > e.n then return nil, "list longer than n" end
          return true
        end } },
    } } },
  },
}
)lua";

TEST(LuaSchema, DefaultsFillAGoodConfig) {
  auto vm = make_vm();
  lua::PluginSchema s;
  std::string error;
  ASSERT_TRUE(translate(vm, kSchema, &s, &error)) << error;
  EXPECT_TRUE(s.no_consumer);
  config::Value conf = config::Value::parse(R"({"a": "x", "nested": {}})");
  EXPECT_TRUE(problems(s, conf).empty());
  EXPECT_EQ(conf["mode"], "a");
  EXPECT_EQ(conf["n"], 3);
  EXPECT_TRUE(conf["list"].is_array());
  EXPECT_EQ(conf["nested"]["port"], 8080);
}

TEST(LuaSchema, EachConstraintHasKongsMessage) {
  auto vm = make_vm();
  lua::PluginSchema s;
  std::string error;
  ASSERT_TRUE(translate(vm, kSchema, &s, &error)) << error;
  struct Case {
    const char* conf;
    const char* expected;
  } cases[] = {
      {R"({"a": "x", "mode": "c"})", "config.mode: expected one of: a, b"},
      {R"({"a": "x", "n": 9})", "config.n: value should be between 1 and 5"},
      {R"({"a": "x", "n": "x"})", "config.n: expected an integer"},
      {R"({"a": "x", "list": ["abcd"]})", "config.list: length must be at most 3"},
      {R"({"a": "x", "word": "UP"})", "config.word: invalid value: UP"},
      {R"({"a": "x", "odd": 4})", "config.odd: not odd: 4"},
      {R"({"a": "x", "nested": {"port": 70000}})", "config.nested.port: value should be between 0 and 65535"},
      {R"({"a": "x", "labels": {"k": "v"}})", "config.labels.k: expected an integer"},
      {R"({"a": "x", "b": "y"})", "config: exactly one of these fields must be non-empty: 'a', 'b'"},
      {R"({"a": "x", "mode": "b"})", "config.ratio: required field missing"},
      {R"({"a": "x", "n": 1, "list": ["a", "b"]})", "config: list longer than n"},
  };
  for (const auto& c : cases) {
    config::Value conf = config::Value::parse(c.conf);
    auto got = problems(s, conf);
    std::string all;
    for (const auto& g : got) all += g + "\n";
    EXPECT_NE(all.find(c.expected), std::string::npos) << c.conf << " gave:\n" << all;
  }
}

TEST(LuaSchema, TopLevelChecksOnConfigFieldsApplyToTheRecord) {
  auto vm = make_vm();
  lua::PluginSchema s;
  std::string error;
  ASSERT_TRUE(translate(vm, R"lua(
    return { name = "t", fields = { { config = { type = "record", fields = {
      { x = { type = "string" } }, { y = { type = "string" } } } } } },
      entity_checks = { { at_least_one_of = { "config.x", "config.y" } } } }
  )lua", &s, &error)) << error;
  config::Value conf = config::Value::object();
  auto got = problems(s, conf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "config: at least one of these fields must be non-empty: 'x', 'y'");
}

TEST(LuaSchema, RefusesWhatItCannotExpress) {
  auto vm = make_vm();
  lua::PluginSchema s;
  std::string error;
  EXPECT_FALSE(translate(vm, R"lua(return { name = "t", fields = { { config = { type = "record", fields = {
      { x = { type = "bignum" } } } } } } })lua", &s, &error));
  EXPECT_EQ(error, "field 'config.x': unknown type 'bignum'");
  EXPECT_FALSE(translate(vm, R"lua(return { name = "t", fields = {} })lua", &s, &error));
  EXPECT_EQ(error, "schema.lua has no config record in its fields");
  EXPECT_FALSE(translate(vm, R"lua(return { name = "t", fields = { { config = { type = "record", fields = {
      { x = { type = "array" } } } } } } })lua", &s, &error));
  EXPECT_EQ(error, "field 'config.x': an array or a set needs elements");
}

TEST(LuaVm, BudgetAndMemoryCapEndTheCallNotTheState) {
  lua::Limits limits;
  limits.instructions = 1'000'000;
  limits.memory_bytes = 16u << 20;
  lua::Vm vm(limits, "");
  lua_State* L = vm.state();
  ASSERT_EQ(luaL_loadstring(L, "while true do end"), 0);
  ASSERT_NE(vm.pcall(0, 0), 0);
  EXPECT_NE(std::string(lua_tostring(L, -1)).find("instruction budget exceeded"), std::string::npos);
  lua_pop(L, 1);
  ASSERT_EQ(luaL_loadstring(L, "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end"), 0);
  vm.reset_budget();
  int rc = vm.pcall(0, 0);
  EXPECT_NE(rc, 0);
  lua_pop(L, 1);
  lua_gc(L, LUA_GCCOLLECT, 0);
  EXPECT_LT(vm.memory_used(), limits.memory_bytes);
  ASSERT_EQ(luaL_loadstring(L, "return 1 + 1"), 0);
  ASSERT_EQ(vm.pcall(0, 1), 0);
  EXPECT_EQ(lua_tointeger(L, -1), 2);
  lua_pop(L, 1);
}

}  // namespace

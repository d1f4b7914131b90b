// The Wasm call path: calls checked against the export's signature once
// (wrong argument counts and non-integer signatures refused, not crashed),
// and a filter handler running only in the phases its module has a
// callback for.
#include <gtest/gtest.h>

#include <string>

#include "pipeline/handler.h"
#include "wasm/engine.h"
#include "wasm/filter_handler.h"

namespace wg::wasm {
namespace {

std::shared_ptr<const Module> compile(const std::string& wat) {
  std::string error;
  auto m = Engine::instance().compile("test", wat, "", &error);
  EXPECT_TRUE(m) << error;
  return m;
}

std::unique_ptr<Vm> instantiate(const std::string& wat) {
  std::string error;
  auto vm = Vm::create(compile(wat), {}, nullptr, Limits{}, &error);
  EXPECT_TRUE(vm) << error;
  return vm;
}

constexpr const char* kMath = R"((module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "wide") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
  (func (export "none"))
  (func (export "float") (param f32) (result f32) local.get 0)
  (func (export "pair") (result i32 i32) i32.const 1 i32.const 2)))";

TEST(WasmCall, CallsWithTheExportsArgumentCount) {
  auto vm = instantiate(kMath);
  uint64_t r = 0;
  const uint64_t args[] = {40, 2};
  int add = vm->function_index("add");
  ASSERT_GE(add, 0);
  ASSERT_TRUE(vm->call_raw(add, args, 2, &r)) << vm->last_error();
  EXPECT_EQ(r, 42u);
  const uint64_t big[] = {1ull << 40};
  ASSERT_TRUE(vm->call_raw(vm->function_index("wide"), big, 1, &r)) << vm->last_error();
  EXPECT_EQ(r, (1ull << 40) + 1);
  r = 7;
  ASSERT_TRUE(vm->call_raw(vm->function_index("none"), nullptr, 0, &r)) << vm->last_error();
  EXPECT_EQ(r, 0u);  // no result: 0
  EXPECT_EQ(vm->function_index("missing"), -1);
}

TEST(WasmCall, RefusesAnotherArgumentCountOrSignature) {
  auto vm = instantiate(kMath);
  uint64_t r = 0;
  const uint64_t args[] = {1, 2, 3};
  EXPECT_FALSE(vm->call_raw(vm->function_index("add"), args, 3, &r));
  EXPECT_NE(vm->last_error().find("'add' has an unexpected signature"), std::string::npos) << vm->last_error();
  EXPECT_FALSE(vm->call_raw(vm->function_index("add"), args, 1, &r));
  EXPECT_FALSE(vm->call_raw(vm->function_index("float"), args, 1, &r));
  EXPECT_NE(vm->last_error().find("'float' has an unexpected signature"), std::string::npos) << vm->last_error();
  EXPECT_FALSE(vm->call_raw(vm->function_index("pair"), nullptr, 0, &r));
  // The instance is still usable.
  ASSERT_TRUE(vm->call_raw(vm->function_index("add"), args, 2, &r)) << vm->last_error();
  EXPECT_EQ(r, 3u);
}

FilterRef ref_for(const std::string& exports) {
  FilterRef ref;
  ref.name = "f";
  ref.module = compile("(module " + exports + ")");
  return ref;
}

TEST(WasmFilterHandler, RunsOnlyInThePhasesItHasACallbackFor) {
  using pipeline::Phase;
  FilterHandler bare(ref_for(""));
  EXPECT_TRUE(bare.runs(Phase::Access));  // its context is created there
  EXPECT_FALSE(bare.runs(Phase::HeaderFilter));
  EXPECT_FALSE(bare.runs(Phase::Log));
  EXPECT_FALSE(bare.runs(Phase::Rewrite));

  FilterHandler both(ref_for(R"((func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) i32.const 0)
                                 (func (export "proxy_on_log") (param i32)))"));
  EXPECT_TRUE(both.runs(Phase::Access));
  EXPECT_TRUE(both.runs(Phase::HeaderFilter));
  EXPECT_TRUE(both.runs(Phase::Log));

  FilterHandler log_only(ref_for(R"((func (export "proxy_on_log") (param i32)))"));
  EXPECT_FALSE(log_only.runs(Phase::HeaderFilter));
  EXPECT_TRUE(log_only.runs(Phase::Log));
}

TEST(WasmFilterHandler, OnlyAddsToTheHeadsWhenItImportsNothingThatReadsThem) {
  using pipeline::Direction;
  const std::string add =
      R"((import "env" "proxy_add_header_map_value" (func (param i32 i32 i32 i32 i32) (result i32))))";
  FilterHandler adder(ref_for(add));
  EXPECT_EQ(adder.heads(), pipeline::adds_bit(Direction::Request) | pipeline::adds_bit(Direction::Response));
  FilterHandler bare(ref_for(""));
  EXPECT_EQ(bare.heads(), adder.heads());
  for (const char* reader : {"proxy_get_header_map_value", "proxy_get_header_map_size", "proxy_get_property",
                             "proxy_remove_header_map_value", "proxy_clear_route_cache"}) {
    FilterHandler h(ref_for(add + "(import \"env\" \"" + reader + "\" (func))"));
    EXPECT_EQ(h.heads(), pipeline::kBothHeads) << reader;
  }
}

}  // namespace
}  // namespace wg::wasm

// The small parsers and codecs under the Lua PDK: the --lua-shared-dict flag,
// ngx.encode_base64 / decode_base64, ngx.escape_uri / unescape_uri.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lua/ngx_codec.h"
#include "lua/shared_dict.h"

using namespace wg;

TEST(LuaSharedDictFlag, ParsesNamesAndSizes) {
  std::vector<lua::DictSpec> specs;
  std::string error;
  ASSERT_TRUE(lua::parse_shared_dicts("counts:1m,small:10k,raw:4096", &specs, &error)) << error;
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "counts");
  EXPECT_EQ(specs[0].bytes, 1u << 20);
  EXPECT_EQ(specs[1].bytes, 10u * 1024);
  EXPECT_EQ(specs[2].bytes, 4096u);
}

TEST(LuaSharedDictFlag, RefusesMalformedItems) {
  for (const char* bad : {"counts", ":1m", "x:", "x:0", "x:1g", "x:12a", "x:99999999999999999999999999m"}) {
    std::vector<lua::DictSpec> specs;
    std::string error;
    EXPECT_FALSE(lua::parse_shared_dicts(bad, &specs, &error)) << bad;
    EXPECT_EQ(error, "invalid shared dictionary '" + std::string(bad) + "' (NAME:SIZE, e.g. counters:1m)");
  }
}

TEST(LuaCodec, Base64RoundTripsAndRefusesJunk) {
  EXPECT_EQ(lua::encode_base64("hello?>", true), "aGVsbG8/Pg==");
  EXPECT_EQ(lua::encode_base64("ab", false), "YWI");
  std::string out;
  ASSERT_TRUE(lua::decode_base64("aGVsbG8/Pg==", &out));
  EXPECT_EQ(out, "hello?>");
  ASSERT_TRUE(lua::decode_base64("YWI", &out));
  EXPECT_EQ(out, "ab");
  EXPECT_FALSE(lua::decode_base64("a*b=", &out));
  EXPECT_FALSE(lua::decode_base64("abcde", &out));
}

TEST(LuaCodec, EscapesAsNgx) {
  EXPECT_EQ(lua::escape_uri("a b/c~", 2), "a%20b%2Fc~");
  EXPECT_EQ(lua::escape_uri("/a b?c", 0), "/a%20b%3Fc");
  EXPECT_EQ(lua::unescape_uri("b%20r56+7%zz%4"), "b r56 7%zz%4");
}

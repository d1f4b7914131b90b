// The Proxy-Wasm header map format (src/wasm/pairs).
#include "wasm/pairs.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using wg::wasm::HeaderList;
using wg::wasm::parse_pairs;
using wg::wasm::serialize_pairs;

TEST(Pairs, SerializeMatchesTheAbiLayout) {
  std::string s = serialize_pairs({{"ab", "c"}});
  const char expected[] = "\x01\0\0\0" "\x02\0\0\0" "\x01\0\0\0" "ab\0c\0";
  ASSERT_EQ(s.size(), sizeof expected - 1);
  EXPECT_EQ(std::memcmp(s.data(), expected, s.size()), 0);
}

TEST(Pairs, RoundTripsIncludingEmptyValues) {
  HeaderList in = {{":status", "200"}, {"x-empty", ""}, {"k", std::string(1000, 'v')}};
  HeaderList out;
  ASSERT_TRUE(parse_pairs(serialize_pairs(in), &out));
  EXPECT_EQ(out, in);
  ASSERT_TRUE(parse_pairs("", &out));
  EXPECT_TRUE(out.empty());
}

TEST(Pairs, RefusesTruncatedOrLyingMaps) {
  std::string good = serialize_pairs({{"key", "value"}});
  HeaderList out;
  for (size_t cut = 1; cut < good.size(); ++cut) {
    EXPECT_FALSE(parse_pairs(good.substr(0, cut), &out)) << cut;
    EXPECT_TRUE(out.empty());
  }
  std::string huge = good;
  huge[0] = '\x7f';  // 127 pairs announced, one present
  EXPECT_FALSE(parse_pairs(huge, &out));
  std::string too_many(4 + 2000 * 8, '\0');
  uint32_t n = 2000;
  std::memcpy(too_many.data(), &n, 4);
  EXPECT_FALSE(parse_pairs(too_many, &out));  // more than 1024 pairs
}

}  // namespace

// The Redis wire format of plugins/redis_client: commands out, replies in
// (whole, split across reads, or not RESP at all).
#include "plugins/redis_client.h"

#include <gtest/gtest.h>

using wg::plugins::parse_redis_reply;
using wg::plugins::redis_command;
using wg::plugins::RedisReply;

TEST(RedisClient, EncodesCommandsAsArraysOfBulkStrings) {
  std::string out;
  redis_command(out, {"GET", "ratelimit:a"});
  redis_command(out, {"SELECT", "2"});
  EXPECT_EQ(out, "*2\r\n$3\r\nGET\r\n$11\r\nratelimit:a\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
}

TEST(RedisClient, ParsesEachReplyKind) {
  std::string in = "+OK\r\n-ERR wrong\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n";
  size_t pos = 0;
  RedisReply r;
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Status);
  EXPECT_EQ(r.text, "OK");
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Error);
  EXPECT_EQ(r.text, "ERR wrong");
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Integer);
  EXPECT_EQ(r.integer, 42);
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Bulk);
  EXPECT_EQ(r.text, "hello");
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Nil);
  ASSERT_EQ(parse_redis_reply(in, pos, &r), 1);
  EXPECT_EQ(r.type, RedisReply::Type::Array);
  EXPECT_EQ(r.integer, 2);
  EXPECT_EQ(pos, in.size());
}

TEST(RedisClient, WaitsForTheRestOfASplitReply) {
  RedisReply r;
  for (std::string part : {"$5\r\nhel", "$5\r\nhello\r", "*2\r\n:1\r\n", ":1"}) {
    size_t pos = 0;
    EXPECT_EQ(parse_redis_reply(part, pos, &r), 0) << part;
    EXPECT_EQ(pos, 0u);
  }
}

TEST(RedisClient, RefusesWhatIsNotResp) {
  RedisReply r;
  for (std::string bad : {"HTTP/1.1 200 OK\r\n", ":12x\r\n", "$abc\r\n", "\r\n"}) {
    size_t pos = 0;
    EXPECT_EQ(parse_redis_reply(bad, pos, &r), -1) << bad;
  }
}

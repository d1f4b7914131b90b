#include <gtest/gtest.h>

#include <string>

#include "http/parser.h"

using namespace wg::http;

namespace {

ParseStatus parse(const std::string& text, Head& h, HeadParser& p) {
  return p.parse_request(text.data(), text.size(), 32768, h);
}

}  // namespace

TEST(RequestParser, ParsesSimpleGet) {
  HeadParser p;
  Head h;
  std::string req = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
  ASSERT_EQ(parse(req, h, p), ParseStatus::Complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/a/b");
  EXPECT_EQ(h.query, "x=1");
  EXPECT_EQ(h.host, "example.com");
  EXPECT_EQ(h.num_headers, 2u);
  EXPECT_EQ(h.head_len, req.size());
  EXPECT_EQ(h.body, BodyKind::None);
  EXPECT_TRUE(h.keep_alive);
}

TEST(RequestParser, IncrementalByteByByte) {
  HeadParser p;
  Head h;
  std::string req = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  size_t head_end = req.find("\r\n\r\n") + 4;
  for (size_t i = 1; i < head_end; ++i) {
    ASSERT_EQ(p.parse_request(req.data(), i, 32768, h), ParseStatus::Incomplete) << i;
  }
  ASSERT_EQ(p.parse_request(req.data(), req.size(), 32768, h), ParseStatus::Complete);
  EXPECT_EQ(h.body, BodyKind::Length);
  EXPECT_EQ(h.content_length, 5u);
  EXPECT_EQ(h.head_len, head_end);
}

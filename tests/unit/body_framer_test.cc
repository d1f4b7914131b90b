#include <gtest/gtest.h>

#include <string>

#include "http/body_framer.h"

using wg::http::BodyKind;
using wg::http::BodyFramer;

namespace {

// Claims from `in` in pieces of `step` bytes; returns the total claimed and
// stops at the end of the body or on error.
size_t claim_all(BodyFramer& f, const std::string& in, size_t step, bool* error) {
  size_t total = 0;
  for (size_t i = 0; i < in.size() && !f.done && !*error; i += step) {
    size_t len = std::min(step, in.size() - i);
    size_t n = f.claim(in.data() + i, len, error);
    total += n;
    if (!f.done && !*error) {
      EXPECT_EQ(n, len);
    }
  }
  return total;
}

}  // namespace

TEST(BodyFramer, NoneIsDoneImmediately) {
  BodyFramer f;
  f.start(BodyKind::None, 0);
  EXPECT_TRUE(f.done);
  bool error = false;
  EXPECT_EQ(f.claim("abc", 3, &error), 0u);
  EXPECT_FALSE(error);
}

TEST(BodyFramer, ZeroLengthIsDone) {
  BodyFramer f;
  f.start(BodyKind::Length, 0);
  EXPECT_TRUE(f.done);
  bool error = false;
  EXPECT_EQ(f.claim("GET", 3, &error), 0u);
}

TEST(BodyFramer, LengthAcrossSplitBuffers) {
  BodyFramer f;
  f.start(BodyKind::Length, 10);
  EXPECT_FALSE(f.done);
  bool error = false;
  EXPECT_EQ(f.claim("abcd", 4, &error), 4u);
  EXPECT_FALSE(f.done);
  EXPECT_EQ(f.remaining, 6u);
  EXPECT_EQ(f.claim("", 0, &error), 0u);
  EXPECT_FALSE(f.done);
  // The next buffer holds the rest of the body and the next request.
  std::string next = "efghijGET / HTTP/1.1\r\n";
  EXPECT_EQ(f.claim(next.data(), next.size(), &error), 6u);
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.claim(next.data() + 6, next.size() - 6, &error), 0u);
  EXPECT_FALSE(error);
}

TEST(BodyFramer, LengthByteByByte) {
  for (size_t step : {1u, 2u, 5u, 100u}) {
    BodyFramer f;
    f.start(BodyKind::Length, 17);
    bool error = false;
    std::string in(40, 'x');
    EXPECT_EQ(claim_all(f, in, step, &error), 17u) << step;
    EXPECT_TRUE(f.done);
    EXPECT_FALSE(error);
  }
}

TEST(BodyFramer, ChunkedAcrossSplitBuffers) {
  std::string body = "4\r\nWiki\r\n5;ext\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
  std::string in = body + "NEXT";
  for (size_t step : {1u, 2u, 3u, 7u, 1000u}) {
    BodyFramer f;
    f.start(BodyKind::Chunked, 0);
    EXPECT_FALSE(f.done);
    bool error = false;
    EXPECT_EQ(claim_all(f, in, step, &error), body.size()) << step;
    EXPECT_TRUE(f.done) << step;
    EXPECT_FALSE(error);
    EXPECT_EQ(f.chunked.payload_bytes(), 9u);
  }
}

TEST(BodyFramer, ChunkedErrorFlagged) {
  BodyFramer f;
  f.start(BodyKind::Chunked, 0);
  bool error = false;
  std::string in = "5\r\nhello";
  EXPECT_EQ(f.claim(in.data(), in.size(), &error), in.size());
  EXPECT_FALSE(error);
  std::string bad = "XX";  // missing CRLF after the data
  EXPECT_EQ(f.claim(bad.data(), bad.size(), &error), 0u);
  EXPECT_TRUE(error);
  EXPECT_FALSE(f.done);
}

TEST(BodyFramer, RestartResetsChunkedState) {
  BodyFramer f;
  f.start(BodyKind::Chunked, 0);
  bool error = false;
  std::string part = "a\r\n01234";
  f.claim(part.data(), part.size(), &error);
  f.start(BodyKind::Chunked, 0);  // a new message
  std::string body = "0\r\n\r\n";
  EXPECT_EQ(f.claim(body.data(), body.size(), &error), body.size());
  EXPECT_TRUE(f.done);
  EXPECT_FALSE(error);
}

TEST(BodyFramer, UntilCloseClaimsEverything) {
  BodyFramer f;
  f.start(BodyKind::UntilClose, 0);
  EXPECT_FALSE(f.done);
  bool error = false;
  EXPECT_EQ(f.claim("abc", 3, &error), 3u);
  EXPECT_EQ(f.claim("0\r\n\r\n", 5, &error), 5u);
  EXPECT_FALSE(f.done);
  EXPECT_FALSE(error);
}

// A chunked body's payload and trailer section come out apart, whatever the
// read sizes; the bytes after the body are not claimed.
TEST(BodyFramer, DecodedChunkedKeepsTrailersApart) {
  const std::string body = "5\r\nhello\r\n3;ext=1\r\n!!!\r\n0\r\nX-Sum: 42\r\nx-other:  two words \r\n\r\nNEXT";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, body.size()}) {
    BodyFramer f;
    f.start(BodyKind::Chunked, 0);
    std::string payload, trailers;
    bool error = false;
    size_t claimed = 0;
    for (size_t i = 0; i < body.size() && !f.done; i += step) {
      size_t len = std::min(step, body.size() - i);
      claimed += f.claim_decoded(body.data() + i, len, &error, &payload, &trailers);
      ASSERT_FALSE(error);
    }
    EXPECT_TRUE(f.done) << step;
    EXPECT_EQ(claimed, body.size() - 4) << step;  // "NEXT" is not the body's
    EXPECT_EQ(payload, "hello!!!") << step;
    EXPECT_EQ(trailers, "X-Sum: 42\nx-other:  two words \n") << step;
  }
}

TEST(BodyFramer, DecodedChunkedWithoutTrailers) {
  BodyFramer f;
  f.start(BodyKind::Chunked, 0);
  std::string payload, trailers;
  bool error = false;
  const std::string body = "2\r\nok\r\n0\r\n\r\n";
  EXPECT_EQ(f.claim_decoded(body.data(), body.size(), &error, &payload, &trailers), body.size());
  EXPECT_TRUE(f.done);
  EXPECT_FALSE(error);
  EXPECT_EQ(payload, "ok");
  EXPECT_EQ(trailers, "");
}

TEST(BodyFramer, BareLfInTrailersIsAnError) {
  BodyFramer f;
  f.start(BodyKind::Chunked, 0);
  std::string payload, trailers;
  bool error = false;
  const std::string body = "0\r\nX-A: 1\nX-B: 2\r\n\r\n";
  f.claim_decoded(body.data(), body.size(), &error, &payload, &trailers);
  EXPECT_TRUE(error);
  EXPECT_FALSE(f.done);
}

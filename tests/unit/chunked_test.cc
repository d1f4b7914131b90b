#include <gtest/gtest.h>

#include <string>

#include "http/chunked.h"

using wg::http::ChunkedScanner;
using Result = ChunkedScanner::Result;

namespace {

struct Outcome {
  Result result = Result::NeedMore;
  size_t consumed = 0;  // total bytes claimed
  std::string payload;
};

Outcome scan_whole(const std::string& in) {
  ChunkedScanner s;
  Outcome o;
  o.result = s.scan(in.data(), in.size(), &o.consumed,
                    [&](const char* p, size_t n) { o.payload.append(p, n); });
  EXPECT_EQ(s.payload_bytes(), o.payload.size());
  return o;
}

// Feeds one byte per call, stopping at the first Done or Error.
Outcome scan_bytes(const std::string& in) {
  ChunkedScanner s;
  Outcome o;
  for (size_t i = 0; i < in.size(); ++i) {
    size_t n = 0;
    o.result = s.scan(in.data() + i, 1, &n, [&](const char* p, size_t len) { o.payload.append(p, len); });
    if (o.result == Result::Error) return o;
    EXPECT_LE(n, 1u);
    o.consumed += n;
    if (o.result == Result::Done) return o;
  }
  return o;
}

// Feeds in pieces of `step` bytes.
Outcome scan_steps(const std::string& in, size_t step) {
  ChunkedScanner s;
  Outcome o;
  for (size_t i = 0; i < in.size(); i += step) {
    size_t len = std::min(step, in.size() - i);
    size_t n = 0;
    o.result = s.scan(in.data() + i, len, &n, [&](const char* p, size_t l) { o.payload.append(p, l); });
    if (o.result == Result::Error) return o;
    o.consumed += n;
    if (o.result == Result::Done) return o;
    EXPECT_EQ(n, len);
  }
  return o;
}

}  // namespace

TEST(Chunked, ValidBodies) {
  struct Case {
    const char* name;
    std::string body;
    std::string payload;
  } cases[] = {
      {"empty", "0\r\n\r\n", ""},
      {"one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"},
      {"two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
      {"lower hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
      {"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
      {"mixed hex", "1F\r\n" + std::string(31, 'x') + "\r\n1f\r\n" + std::string(31, 'y') + "\r\n0\r\n\r\n",
       std::string(31, 'x') + std::string(31, 'y')},
      {"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello"},
      {"extension", "5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello"},
      {"quoted extension", "5;a=\"b c\";d\r\nhello\r\n0\r\n\r\n", "hello"},
      {"BWS before extension", "5 ;a=b\r\nhello\r\n0\t\r\n\r\n", "hello"},
      {"trailers", "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", "hello"},
      {"payload with CRLF", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
      {"binary payload", std::string("3\r\n\0\xff\n\r\n0\r\n\r\n", 13), std::string("\0\xff\n", 3)},
      {"15 hex digits", "000000000000001\r\nx\r\n0\r\n\r\n", "x"},
  };
  for (const auto& c : cases) {
    Outcome w = scan_whole(c.body);
    EXPECT_EQ(w.result, Result::Done) << c.name;
    EXPECT_EQ(w.consumed, c.body.size()) << c.name;
    EXPECT_EQ(w.payload, c.payload) << c.name;
    Outcome b = scan_bytes(c.body);
    EXPECT_EQ(b.result, Result::Done) << c.name;
    EXPECT_EQ(b.consumed, c.body.size()) << c.name;
    EXPECT_EQ(b.payload, c.payload) << c.name;
    for (size_t step : {2u, 3u, 7u}) {
      Outcome s = scan_steps(c.body, step);
      EXPECT_EQ(s.result, Result::Done) << c.name << " step " << step;
      EXPECT_EQ(s.consumed, c.body.size()) << c.name << " step " << step;
      EXPECT_EQ(s.payload, c.payload) << c.name << " step " << step;
    }
  }
}

TEST(Chunked, NeedMoreForEveryProperPrefix) {
  std::string body = "5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n";
  for (size_t i = 0; i < body.size(); ++i) {
    ChunkedScanner s;
    size_t n = 99;
    EXPECT_EQ(s.scan(body.data(), i, &n), Result::NeedMore) << i;
    EXPECT_EQ(n, i) << i;
  }
}

TEST(Chunked, BytesAfterTheEndAreNotConsumed) {
  std::string body = "3\r\nabc\r\n0\r\n\r\n";
  std::string in = body + "GET / HTTP/1.1\r\n";
  Outcome w = scan_whole(in);
  EXPECT_EQ(w.result, Result::Done);
  EXPECT_EQ(w.consumed, body.size());
  EXPECT_EQ(w.payload, "abc");
  // After Done, further calls claim nothing.
  ChunkedScanner s;
  size_t n = 0;
  ASSERT_EQ(s.scan(in.data(), body.size(), &n), Result::Done);
  EXPECT_EQ(n, body.size());
  n = 99;
  EXPECT_EQ(s.scan(in.data() + body.size(), in.size() - body.size(), &n), Result::Done);
  EXPECT_EQ(n, 0u);
}

TEST(Chunked, DataSinkReceivesExactPayload) {
  std::string body = "3\r\nabc\r\n2\r\nde\r\n0\r\nX: y\r\n\r\n";
  ChunkedScanner s;
  std::string got;
  size_t calls = 0;
  size_t n = 0;
  ASSERT_EQ(s.scan(body.data(), body.size(), &n, [&](const char* p, size_t len) {
              got.append(p, len);
              ++calls;
              // Every run lies inside the input.
              EXPECT_GE(p, body.data());
              EXPECT_LE(p + len, body.data() + body.size());
            }),
            Result::Done);
  EXPECT_EQ(got, "abcde");
  EXPECT_EQ(calls, 2u);
  EXPECT_EQ(s.payload_bytes(), 5u);
}

TEST(Chunked, Errors) {
  struct Case {
    const char* name;
    std::string body;
  } cases[] = {
      {"16 hex digits", "0000000000000001\r\nx\r\n0\r\n\r\n"},
      {"size overflow", "FFFFFFFFFFFFFFFFF\r\n"},
      {"no size", "\r\n"},
      {"non-hex size", "g\r\n"},
      {"negative size", "-1\r\n"},
      {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
      {"space inside size", "1 2\r\n"},
      {"leading space", " 5\r\nhello\r\n0\r\n\r\n"},
      {"missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
      {"data too long", "3\r\nhello\r\n0\r\n\r\n"},
      {"missing LF after data", "5\r\nhello\rX0\r\n\r\n"},
      {"bare LF after size", "5\nhello\r\n0\r\n\r\n"},
      {"bare LF after data", "5\r\nhello\n0\r\n\r\n"},
      {"bare LF in extension", "5;a\nhello\r\n0\r\n\r\n"},
      {"CTL in extension", "5;a\x01\r\nhello\r\n0\r\n\r\n"},
      {"DEL in extension", "5;a\x7f\r\nhello\r\n0\r\n\r\n"},
      {"CR not followed by LF after size", "5\rxhello\r\n0\r\n\r\n"},
      {"bare LF after last chunk", "0\n\r\n"},
      {"bare LF ends trailer", "0\r\nX: y\n\r\n"},
      {"bare LF final", "0\r\n\n"},
      {"bare LF final after trailer", "0\r\nX: y\r\n\n"},
      {"NUL in trailer", std::string("0\r\nX: \0\r\n\r\n", 10)},
      {"CR then junk at end", "0\r\n\rx"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(scan_whole(c.body).result, Result::Error) << c.name;
    EXPECT_EQ(scan_bytes(c.body).result, Result::Error) << c.name;
  }
}

TEST(Chunked, TrailerSizeLimit) {
  std::string ok = "0\r\nX: " + std::string(1000, 'a') + "\r\n\r\n";
  EXPECT_EQ(scan_whole(ok).result, Result::Done);
  std::string big = "0\r\nX: " + std::string(20000, 'a') + "\r\n\r\n";
  EXPECT_EQ(scan_whole(big).result, Result::Error);
}

TEST(Chunked, ResetStartsOver) {
  ChunkedScanner s;
  size_t n = 0;
  std::string a = "5\r\nhel";
  ASSERT_EQ(s.scan(a.data(), a.size(), &n), Result::NeedMore);
  s.reset();
  EXPECT_EQ(s.payload_bytes(), 0u);
  std::string b = "2\r\nok\r\n0\r\n\r\n";
  ASSERT_EQ(s.scan(b.data(), b.size(), &n), Result::Done);
  EXPECT_EQ(n, b.size());
  EXPECT_EQ(s.payload_bytes(), 2u);
}

TEST(Chunked, LargeChunkAcrossManyBuffers) {
  // A 1 MiB chunk declared up front, delivered in 4 KiB pieces.
  const size_t size = 1 << 20;
  std::string head = "100000\r\n";
  ChunkedScanner s;
  size_t n = 0;
  ASSERT_EQ(s.scan(head.data(), head.size(), &n), Result::NeedMore);
  std::string piece(4096, 'z');
  size_t total = 0;
  for (size_t i = 0; i < size / piece.size(); ++i) {
    ASSERT_EQ(s.scan(piece.data(), piece.size(), &n, [&](const char*, size_t l) { total += l; }),
              Result::NeedMore);
    ASSERT_EQ(n, piece.size());
  }
  EXPECT_EQ(total, size);
  std::string tail = "\r\n0\r\n\r\n";
  ASSERT_EQ(s.scan(tail.data(), tail.size(), &n), Result::Done);
  EXPECT_EQ(n, tail.size());
  EXPECT_EQ(s.payload_bytes(), size);
}

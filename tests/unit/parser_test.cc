#include <gtest/gtest.h>

#include <memory>
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

// ---------------------------------------------------------------------------
// Extended request/response parser coverage.

namespace {

struct Parsed {
  ParseStatus st = ParseStatus::Incomplete;
  int error_status = 0;
  std::string reason;
  Head h;
};

// Parses a whole request with a fresh parser. The text must outlive the
// returned views, so callers keep their strings alive.
std::unique_ptr<Parsed> req(const std::string& text, size_t max_head = 32768) {
  auto r = std::make_unique<Parsed>();
  HeadParser p;
  r->st = p.parse_request(text.data(), text.size(), max_head, r->h);
  r->error_status = p.error_status();
  r->reason = p.error_reason();
  return r;
}

std::unique_ptr<Parsed> resp(const std::string& text, size_t max_head = 32768) {
  auto r = std::make_unique<Parsed>();
  HeadParser p;
  r->st = p.parse_response(text.data(), text.size(), max_head, r->h);
  r->error_status = p.error_status();
  r->reason = p.error_reason();
  return r;
}

const Header* find_header(const Head& h, std::string_view name) {
  for (size_t i = 0; i < h.num_headers; ++i) {
    if (iequals(h.headers[i].name, name)) return &h.headers[i];
  }
  return nullptr;
}

}  // namespace

TEST(RequestParser, OriginFormWithEmptyQuery) {
  std::string t = "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.target, "/a?");
  EXPECT_EQ(r->h.path, "/a");
  EXPECT_EQ(r->h.query, "");
  EXPECT_EQ(r->h.minor_version, 1);
}

TEST(RequestParser, AbsoluteFormAuthorityReplacesHost) {
  std::string t = "GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.host, "example.com:8080");
  EXPECT_EQ(r->h.path, "/a/b");
  EXPECT_EQ(r->h.query, "x=1");
  EXPECT_EQ(r->h.target, "http://example.com:8080/a/b?x=1");
}

TEST(RequestParser, AbsoluteFormVariants) {
  {
    std::string t = "GET HTTPS://Example.com HTTP/1.1\r\n\r\n";  // no Host needed: the authority is the host
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
    EXPECT_EQ(r->h.host, "Example.com");
    EXPECT_EQ(r->h.path, "/");
    EXPECT_EQ(r->h.query, "");
  }
  {
    std::string t = "GET http://a.test/p?q HTTP/1.1\r\nHost: a.test\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_EQ(r->h.path, "/p");
    EXPECT_EQ(r->h.query, "q");
  }
  for (const char* bad : {"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n",
                          "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n",
                          "GET * HTTP/1.1\r\nHost: a\r\n\r\n"}) {
    std::string t = bad;
    auto r = req(t);
    EXPECT_EQ(r->st, ParseStatus::Error) << bad;
    EXPECT_EQ(r->error_status, 400) << bad;
  }
}

TEST(RequestParser, OptionsAsterisk) {
  std::string t = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.method, "OPTIONS");
  EXPECT_EQ(r->h.target, "*");
  EXPECT_EQ(r->h.path, "*");
  EXPECT_EQ(r->h.host, "a");
}

TEST(RequestParser, Versions) {
  {
    std::string t = "GET / HTTP/1.0\r\n\r\n";  // 1.0 needs no Host
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
    EXPECT_EQ(r->h.minor_version, 0);
    EXPECT_FALSE(r->h.keep_alive);
  }
  {
    std::string t = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_TRUE(r->h.keep_alive);
  }
  {
    std::string t = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_TRUE(r->h.keep_alive);
  }
  {
    std::string t = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_TRUE(r->h.keep_alive);
  }
  {
    std::string t = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_FALSE(r->h.keep_alive);
  }
  struct Case {
    const char* version;
    int status;
  } cases[] = {
      {"HTTP/2.0", 505}, {"HTTP/0.9", 505}, {"HTTP/3.0", 505}, {"HTTX/1.1", 400}, {"HTTP/1.x", 400},
      {"HTTP/11", 400},  {"http/1.1", 400}, {"HTTP/1.1 ", 400}, {"HTTP/1.10", 400},
  };
  for (const auto& c : cases) {
    std::string t = std::string("GET / ") + c.version + "\r\nHost: a\r\n\r\n";
    auto r = req(t);
    EXPECT_EQ(r->st, ParseStatus::Error) << c.version;
    EXPECT_EQ(r->error_status, c.status) << c.version;
  }
}

TEST(RequestParser, MalformedRequestLines) {
  for (const char* line : {"GET  / HTTP/1.1", " GET / HTTP/1.1", "GET /", "GET / HTTP/1.1 extra", "G(T / HTTP/1.1",
                           "GET /a b HTTP/1.1", "GET\t/ HTTP/1.1", "/ HTTP/1.1"}) {
    std::string t = std::string(line) + "\r\nHost: a\r\n\r\n";
    auto r = req(t);
    EXPECT_EQ(r->st, ParseStatus::Error) << line;
    EXPECT_EQ(r->error_status, 400) << line;
  }
}

TEST(RequestParser, HeaderSyntaxErrors) {
  struct Case {
    const char* name;
    std::string text;
    int status;
  };
  const std::string nul_value = std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a") + '\0' + "b\r\n\r\n";
  Case cases[] = {
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400},
      {"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"space before colon other", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
      {"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400},
      {"bare LF in header", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400},
      {"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"bare LF final", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
      {"LF first byte", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"NUL in value", nul_value, 400},
      {"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", 400},
      {"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
      {"ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n", 400},
      {"duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"duplicate Host same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400},
      {"duplicate Host first empty", "GET / HTTP/1.1\r\nHost:\r\nHost: b\r\n\r\n", 400},
      {"missing Host 1.1", "GET / HTTP/1.1\r\nX: a\r\n\r\n", 400},
      {"empty Host 1.1", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
      {"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
      {"differing CL headers", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"differing CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400},
      {"non-digit CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", 400},
      {"negative CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
      {"plus CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400},
      {"hex CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400},
      {"empty CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400},
      {"huge CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n", 400},
      {"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"TE chunked, gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
      {"TE gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501},
      {"TE chunked twice headers",
       "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501},
      {"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    auto r = req(c.text);
    EXPECT_EQ(r->st, ParseStatus::Error) << c.name;
    EXPECT_EQ(r->error_status, c.status) << c.name << " (" << r->reason << ")";
    EXPECT_STRNE(r->reason.c_str(), "") << c.name;
  }
}

TEST(RequestParser, ContentLengthAccepted) {
  struct Case {
    const char* headers;
    uint64_t length;
  } cases[] = {
      {"Content-Length: 5\r\n", 5},
      {"Content-Length: 5, 5\r\n", 5},
      {"Content-Length: 5,5\r\n", 5},
      {"content-length:   7  \r\n", 7},
      {"Content-Length: 000\r\n", 0},
      {"Content-Length: 123456789012345678\r\n", 123456789012345678ull},
  };
  for (const auto& c : cases) {
    std::string t = std::string("POST / HTTP/1.1\r\nHost: a\r\n") + c.headers + "\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << c.headers << r->reason;
    EXPECT_EQ(r->h.body, BodyKind::Length) << c.headers;
    EXPECT_EQ(r->h.content_length, c.length) << c.headers;
  }
}

TEST(RequestParser, ChunkedTransferEncoding) {
  for (const char* te : {"chunked", "Chunked", "CHUNKED", " chunked "}) {
    std::string t = std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:") + te + "\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << te;
    EXPECT_EQ(r->h.body, BodyKind::Chunked) << te;
    const Header* h = find_header(r->h, "transfer-encoding");
    ASSERT_NE(h, nullptr);
    EXPECT_TRUE(h->hop_by_hop);
  }
}

TEST(RequestParser, NoBodyWithoutFraming) {
  std::string t = "POST / HTTP/1.1\r\nHost: a\r\n\r\nignored";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.body, BodyKind::None);
  EXPECT_EQ(r->h.head_len, t.size() - 7);
}

TEST(RequestParser, ConnectionTokensMarkHopByHop) {
  std::string t =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Private: 1\r\nX-Public: 2\r\nConnection: x-private, close\r\n"
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n"
      "Trailer: X\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_TRUE(find_header(r->h, "X-Private")->hop_by_hop);
  EXPECT_FALSE(find_header(r->h, "X-Public")->hop_by_hop);
  EXPECT_FALSE(find_header(r->h, "Host")->hop_by_hop);
  for (const char* n : {"Connection", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection", "Trailer"}) {
    EXPECT_TRUE(find_header(r->h, n)->hop_by_hop) << n;
  }
  EXPECT_FALSE(r->h.keep_alive);
  EXPECT_FALSE(r->h.has_upgrade);  // Upgrade not named in Connection
}

TEST(RequestParser, UpgradeNamedInConnection) {
  std::string t = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_TRUE(r->h.has_upgrade);
  EXPECT_TRUE(r->h.keep_alive);
  EXPECT_EQ(r->h.upgrade, "websocket");
}

TEST(RequestParser, UpgradeValueIsTheFirstUpgradeHeader) {
  // The texts outlive the parses: the heads' views point into them.
  std::string t = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade:  WebSocket \r\nUpgrade: h2c\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.upgrade, "WebSocket");
  std::string plain = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto none = req(plain);
  ASSERT_EQ(none->st, ParseStatus::Complete);
  EXPECT_TRUE(none->h.upgrade.empty());
}

TEST(RequestParser, ExpectContinue) {
  for (const char* v : {"100-continue", "100-Continue"}) {
    std::string t = std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: ") + v + "\r\n\r\n";
    auto r = req(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_TRUE(r->h.expect_continue) << v;
  }
  std::string t = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: something\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_FALSE(r->h.expect_continue);
  std::string t2 = "POST / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r2 = req(t2);
  EXPECT_FALSE(r2->h.expect_continue);
}

TEST(RequestParser, HeadTooLarge) {
  std::string t = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'v') + "\r\n\r\n";
  auto ok = req(t, t.size());
  EXPECT_EQ(ok->st, ParseStatus::Complete);
  auto big = req(t, t.size() - 1);
  EXPECT_EQ(big->st, ParseStatus::Error);
  EXPECT_EQ(big->error_status, 431);
  // Incomplete heads are refused as soon as they exceed the limit.
  std::string partial = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'v');
  auto inc = req(partial, 64);
  EXPECT_EQ(inc->st, ParseStatus::Error);
  EXPECT_EQ(inc->error_status, 431);
  auto inc_ok = req(partial, 1024);
  EXPECT_EQ(inc_ok->st, ParseStatus::Incomplete);
}

TEST(RequestParser, TooManyHeaders) {
  auto build = [](size_t n) {
    std::string t = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (size_t i = 1; i < n; ++i) t += "X-" + std::to_string(i) + ": v\r\n";
    return t + "\r\n";
  };
  std::string at_limit = build(kMaxHeaders);
  auto r = req(at_limit);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.num_headers, kMaxHeaders);
  std::string over = build(kMaxHeaders + 1);
  auto r2 = req(over);
  EXPECT_EQ(r2->st, ParseStatus::Error);
  EXPECT_EQ(r2->error_status, 431);
  // The same through the absolute-form path.
  std::string abs = over;
  abs.replace(0, 5, "GET http://a/");
  auto r3 = req(abs);
  EXPECT_EQ(r3->st, ParseStatus::Error);
  EXPECT_EQ(r3->error_status, 431);
}

TEST(RequestParser, LeadingEmptyLinesSkipped) {
  std::string t = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.method, "GET");
  EXPECT_EQ(r->h.path, "/x");
  EXPECT_EQ(r->h.head_len, t.size());
  // Leading CRLFs do not count against the head size limit.
  auto tight = req(t, t.size() - 4);
  EXPECT_EQ(tight->st, ParseStatus::Complete);
  // ...but a flood of them is refused.
  std::string many = std::string(10, '\r') + "\n";
  many.clear();
  for (int i = 0; i < 5; ++i) many += "\r\n";
  many += "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto r2 = req(many);
  EXPECT_EQ(r2->st, ParseStatus::Error);
  EXPECT_EQ(r2->error_status, 400);
}

TEST(RequestParser, LeadingEmptyLinesIncremental) {
  std::string t = "\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  HeadParser p;
  Head h;
  for (size_t i = 1; i < t.size(); ++i) {
    ASSERT_EQ(p.parse_request(t.data(), i, 32768, h), ParseStatus::Incomplete) << i;
  }
  ASSERT_EQ(p.parse_request(t.data(), t.size(), 32768, h), ParseStatus::Complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/x");
}

TEST(RequestParser, ParserReuseAfterReset) {
  HeadParser p;
  Head h;
  std::string a = "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(p.parse_request(a.data(), a.size(), 32768, h), ParseStatus::Complete);
  EXPECT_EQ(h.content_length, 3u);
  p.reset();
  std::string b = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  ASSERT_EQ(p.parse_request(b.data(), b.size(), 32768, h), ParseStatus::Complete);
  EXPECT_EQ(h.path, "/b");
  EXPECT_EQ(h.host, "b");
  EXPECT_EQ(h.body, BodyKind::None);
  EXPECT_EQ(h.content_length, 0u);
  EXPECT_EQ(h.num_headers, 1u);
}

TEST(RequestParser, HeaderValuesTrimmedAndViewsIntoInput) {
  std::string t = "GET / HTTP/1.1\r\nHost:\t a.test \t\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.host, "a.test");
  ASSERT_EQ(r->h.num_headers, 3u);
  EXPECT_EQ(r->h.headers[1].name, "X-Empty");
  EXPECT_EQ(r->h.headers[1].value, "");
  EXPECT_EQ(r->h.headers[2].value, "caf\xc3\xa9");  // obs-text is allowed
  for (size_t i = 0; i < r->h.num_headers; ++i) {
    EXPECT_GE(r->h.headers[i].name.data(), t.data());
    EXPECT_LE(r->h.headers[i].name.data() + r->h.headers[i].name.size(), t.data() + t.size());
  }
}

TEST(RequestParser, HeaderClassification) {
  struct Case {
    const char* name;
    HeaderId id;
  } cases[] = {
      {"Host", HeaderId::Host},
      {"content-length", HeaderId::ContentLength},
      {"Transfer-Encoding", HeaderId::TransferEncoding},
      {"CONNECTION", HeaderId::Connection},
      {"Keep-Alive", HeaderId::KeepAlive},
      {"Proxy-Connection", HeaderId::ProxyConnection},
      {"TE", HeaderId::Te},
      {"Trailer", HeaderId::Trailer},
      {"Upgrade", HeaderId::Upgrade},
      {"Expect", HeaderId::Expect},
      {"X-Forwarded-For", HeaderId::XForwardedFor},
      {"x-forwarded-proto", HeaderId::XForwardedProto},
      {"X-Forwarded-Host", HeaderId::XForwardedHost},
      {"X-Forwarded-Port", HeaderId::XForwardedPort},
      {"X-Forwarded-Path", HeaderId::XForwardedPath},
      {"X-Forwarded-Prefix", HeaderId::XForwardedPrefix},
      {"X-Real-IP", HeaderId::XRealIp},
      {"User-Agent", HeaderId::UserAgent},
      {"Referer", HeaderId::Referer},
      {"Via", HeaderId::Via},
      {"Server", HeaderId::Server},
      {"X-Custom", HeaderId::Other},
      {"Hosts", HeaderId::Other},
      {"Content-Type", HeaderId::Other},
      {"Tx", HeaderId::Other},
  };
  std::string t = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (const auto& c : cases) {
    if (std::string_view(c.name) == "Host") continue;
    std::string value = "v";
    if (c.id == HeaderId::ContentLength) value = "0";
    if (c.id == HeaderId::TransferEncoding) continue;  // tested with chunked elsewhere
    t += std::string(c.name) + ": " + value + "\r\n";
  }
  t += "\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  for (const auto& c : cases) {
    if (c.id == HeaderId::TransferEncoding) continue;
    const Header* h = find_header(r->h, c.name);
    ASSERT_NE(h, nullptr) << c.name;
    EXPECT_EQ(h->id, c.id) << c.name;
  }
  std::string te = "POST / HTTP/1.1\r\nHost: a\r\ntransfer-ENCODING: chunked\r\n\r\n";
  auto r2 = req(te);
  ASSERT_EQ(r2->st, ParseStatus::Complete);
  EXPECT_EQ(r2->h.headers[1].id, HeaderId::TransferEncoding);
}

TEST(RequestParser, IncrementalSplitsAgreeWithWhole) {
  std::string t =
      "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: x-a\r\nX-A: 1\r\n\r\n";
  auto whole = req(t);
  ASSERT_EQ(whole->st, ParseStatus::Complete);
  for (size_t split = 1; split < t.size(); ++split) {
    HeadParser p;
    Head h;
    ASSERT_EQ(p.parse_request(t.data(), split, 32768, h), ParseStatus::Incomplete) << split;
    ASSERT_EQ(p.parse_request(t.data(), t.size(), 32768, h), ParseStatus::Complete) << split;
    EXPECT_EQ(h.head_len, whole->h.head_len);
    EXPECT_EQ(h.num_headers, whole->h.num_headers);
    EXPECT_EQ(h.body, BodyKind::Chunked);
    EXPECT_EQ(h.path, "/p");
    EXPECT_TRUE(h.headers[3].hop_by_hop);
  }
}

TEST(RequestParser, ReasonPhrase) {
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(iequals("a", "ab"));
  EXPECT_FALSE(iequals("[", "{"));  // '[' | 0x20 == '{': only letters fold
}

// RFC 9110 8.6 allows a recipient to accept repeated Content-Length fields
// with identical values; the comment in parse_headers says so too.
TEST(RequestParser, IdenticalDuplicateContentLengthHeaders) {
  std::string t = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
  auto r = req(t);
  ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
  EXPECT_EQ(r->h.content_length, 5u);
}

// Request smuggling: differing Content-Length lines must never be resolved
// by taking one of them.
TEST(RequestParser, DifferingContentLengthLinesAreRefused) {
  std::string t = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n";
  auto r = req(t);
  EXPECT_EQ(r->st, ParseStatus::Error);
  EXPECT_EQ(r->error_status, 400);
  std::string t2 = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: \r\n\r\n";
  auto r2 = req(t2);
  EXPECT_EQ(r2->st, ParseStatus::Error) << "an empty second Content-Length is accepted too";
}

// RFC 9112 2.2: a bare CR must be treated as invalid (or replaced by SP).
TEST(RequestParser, BareCrIsRefused) {
  {
    std::string t = "GET / HTTP/1.1\r\nHost: a\r\nX: a\rZY: evil\r\n\r\n";
    auto r = req(t);
    EXPECT_EQ(r->st, ParseStatus::Error);
    EXPECT_EQ(r->error_status, 400);
  }
  {
    std::string t = "GET / HTTP/1.1\r Host: a\r\n\r\n";
    auto r = req(t);
    EXPECT_EQ(r->st, ParseStatus::Error);
  }
}

// ---------------------------------------------------------------- responses

TEST(ResponseParser, StatusLineForms) {
  {
    std::string t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
    EXPECT_EQ(r->h.status, 200);
    EXPECT_EQ(r->h.reason, "OK");
    EXPECT_EQ(r->h.body, BodyKind::Length);
    EXPECT_EQ(r->h.content_length, 2u);
    EXPECT_TRUE(r->h.keep_alive);
    EXPECT_EQ(r->h.head_len, t.size() - 2);
  }
  {
    std::string t = "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n";  // no reason, no SP
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
    EXPECT_EQ(r->h.status, 404);
    EXPECT_EQ(r->h.reason, "");
    EXPECT_EQ(r->h.body, BodyKind::None);  // Content-Length: 0
  }
  {
    std::string t = "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n";  // empty reason after SP
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << r->reason;
    EXPECT_EQ(r->h.reason, "");
  }
  {
    std::string t = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_EQ(r->h.reason, "Internal Server Error");
  }
  for (const char* bad : {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "HTTP/1.1  200 OK",
                          "HTTP/1.1 099 X", "HTTX/1.1 200 OK", "HTTP/1.1", "HTTP/1.1 200OK", "ICY 200 OK"}) {
    std::string t = std::string(bad) + "\r\nContent-Length: 0\r\n\r\n";
    auto r = resp(t);
    EXPECT_EQ(r->st, ParseStatus::Error) << bad;
    EXPECT_EQ(r->error_status, 502) << bad;
  }
}

TEST(ResponseParser, NoBodyStatuses) {
  for (int code : {100, 101, 103, 199, 204, 304}) {
    std::string t = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 10\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete) << code;
    EXPECT_EQ(r->h.body, BodyKind::None) << code;
    EXPECT_TRUE(r->h.keep_alive) << code;
  }
  std::string t = "HTTP/1.1 204 No Content\r\n\r\n";
  auto r = resp(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.body, BodyKind::None);
  EXPECT_TRUE(r->h.keep_alive);
}

TEST(ResponseParser, NoFramingReadsUntilClose) {
  std::string t = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n";
  auto r = resp(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.body, BodyKind::UntilClose);
  EXPECT_FALSE(r->h.keep_alive);
}

TEST(ResponseParser, ChunkedAndVersions) {
  {
    std::string t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_EQ(r->h.body, BodyKind::Chunked);
    EXPECT_TRUE(r->h.keep_alive);
  }
  {
    std::string t = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_EQ(r->h.minor_version, 0);
    EXPECT_FALSE(r->h.keep_alive);
  }
  {
    std::string t = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_TRUE(r->h.keep_alive);
  }
  {
    std::string t = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n";
    auto r = resp(t);
    ASSERT_EQ(r->st, ParseStatus::Complete);
    EXPECT_FALSE(r->h.keep_alive);
  }
  struct Case {
    const char* name;
    const char* text;
  } errors[] = {
      {"CL+TE", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
      {"differing CL", "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"},
      {"leading CRLF", "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/2", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {"too many headers", nullptr},
  };
  for (const auto& c : errors) {
    std::string t;
    if (c.text != nullptr) {
      t = c.text;
    } else {
      t = "HTTP/1.1 200 OK\r\n";
      for (size_t i = 0; i <= kMaxHeaders; ++i) t += "X: v\r\n";
      t += "\r\n";
    }
    auto r = resp(t);
    EXPECT_EQ(r->st, ParseStatus::Error) << c.name;
    EXPECT_EQ(r->error_status, 502) << c.name;
  }
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(100, 'x') + "\r\n\r\n";
  auto r = resp(big, 50);
  EXPECT_EQ(r->st, ParseStatus::Error);
  EXPECT_EQ(r->error_status, 502);
}

TEST(ResponseParser, DuplicateHostAllowedInResponse) {
  std::string t = "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n";
  auto r = resp(t);
  EXPECT_EQ(r->st, ParseStatus::Complete) << r->reason;
}

TEST(ResponseParser, HeadResponseFramingIsTheCallersJob) {
  // The parser does not know the request method: a HEAD response with a
  // Content-Length reports a Length body and the session must ignore it.
  std::string t = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  auto r = resp(t);
  ASSERT_EQ(r->st, ParseStatus::Complete);
  EXPECT_EQ(r->h.body, BodyKind::Length);
  EXPECT_EQ(r->h.content_length, 1234u);
}

TEST(ResponseParser, Incremental) {
  std::string t = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: x\r\n\r\nabc";
  size_t head_end = t.find("\r\n\r\n") + 4;
  HeadParser p;
  Head h;
  for (size_t i = 1; i < head_end; ++i) {
    ASSERT_EQ(p.parse_response(t.data(), i, 32768, h), ParseStatus::Incomplete) << i;
  }
  ASSERT_EQ(p.parse_response(t.data(), t.size(), 32768, h), ParseStatus::Complete);
  EXPECT_EQ(h.head_len, head_end);
  EXPECT_EQ(h.headers[1].id, HeaderId::Server);
}

// A parser that once answered 431 must not keep that status for later
// unrelated header errors (sessions reuse their parser).
TEST(RequestParser, NoStaleErrorStatusAfterReset) {
  HeadParser p;
  Head h;
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (size_t i = 0; i < kMaxHeaders; ++i) many += "X: v\r\n";
  many += "\r\n";
  ASSERT_EQ(p.parse_request(many.data(), many.size(), 32768, h), ParseStatus::Error);
  ASSERT_EQ(p.error_status(), 431);
  p.reset();
  std::string bad = "GET http://a/ HTTP/1.1\r\nBad Header: x\r\n\r\n";
  ASSERT_EQ(p.parse_request(bad.data(), bad.size(), 32768, h), ParseStatus::Error);
  EXPECT_EQ(p.error_status(), 400);
}

TEST(RequestParser, HostRequiredInHttp11UnlessTurnedOff) {
  std::string t = "GET /status HTTP/1.1\r\nAccept: */*\r\n\r\n";
  wg::http::HeadParser strict;
  wg::http::Head h;
  EXPECT_EQ(strict.parse_request(t.data(), t.size(), 8192, h), wg::http::ParseStatus::Error);
  EXPECT_EQ(strict.error_status(), 400);
  wg::http::HeadParser lenient;
  lenient.set_require_host(false);
  wg::http::Head h2;
  ASSERT_EQ(lenient.parse_request(t.data(), t.size(), 8192, h2), wg::http::ParseStatus::Complete);
  EXPECT_EQ(h2.path, "/status");
  EXPECT_TRUE(h2.host.empty());
}

// The header map (src/http/header_map): zero-copy filling from a
// parsed head, the copying operations a filter asks for, the wire format,
// and storage reuse / compaction / growth.
#include "http/header_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "http/parser.h"
#include "wasm/header_name_cache.h"
#include "wasm/pairs.h"

namespace {

using wg::http::Head;
using wg::http::HeadParser;
using wg::http::Header;
using wg::http::HeaderId;
using wg::http::ParseStatus;
using wg::wasm::HeaderList;
using wg::http::HeaderMap;
using wg::wasm::HeaderNameCache;
using wg::wasm::serialize;
using wg::wasm::serialize_to;
using wg::wasm::serialized_size;
using wg::wasm::parse_pairs;
using wg::wasm::serialize_pairs;

HeaderList to_list(const HeaderMap& m) {
  HeaderList out;
  for (const HeaderMap::Entry& e : m) out.emplace_back(std::string(e.name), std::string(e.value));
  return out;
}

// Whether any byte of v lies inside buf.
bool points_into(std::string_view v, const std::string& buf) {
  if (v.empty()) return false;
  const char* b = buf.data();
  return v.data() < b + buf.size() && v.data() + v.size() > b;
}

// A header view into buf: the first occurrence of name, and of value after it.
Header view_header(const std::string& buf, std::string_view name, std::string_view value, HeaderId id,
                   bool hop = false) {
  size_t n = buf.find(name);
  size_t v = buf.find(value, n + name.size());
  EXPECT_NE(n, std::string::npos) << name;
  EXPECT_NE(v, std::string::npos) << value;
  return {std::string_view(buf).substr(n, name.size()), std::string_view(buf).substr(v, value.size()), id, hop};
}

// What filters get: the names lower-cased (as Envoy hands them).
HeaderList lower_names(HeaderList list) {
  for (auto& [k, v] : list) {
    for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return list;
}

// The map holds `expected` (the sender's spelling); serialization must agree
// with wasm::serialize_pairs() of the same list with lower-case names,
// serialize_to() must write exactly serialized_size() bytes, and the result
// must parse back to those pairs.
void expect_serializes_as(const HeaderMap& m, const HeaderList& given) {
  ASSERT_EQ(to_list(m), given);
  const HeaderList expected = lower_names(given);
  std::string want = serialize_pairs(expected);
  EXPECT_EQ(serialized_size(m), want.size());
  EXPECT_EQ(serialize(m), want);
  std::string buf(serialized_size(m) + 16, '\x5a');
  serialize_to(m, buf.data() + 8);
  EXPECT_EQ(buf.substr(0, 8), std::string(8, '\x5a'));                             // no underrun
  EXPECT_EQ(buf.substr(8 + serialized_size(m)), std::string(8, '\x5a'));          // no overrun
  EXPECT_EQ(buf.substr(8, serialized_size(m)), want);
  HeaderList back;
  ASSERT_TRUE(parse_pairs(serialize(m), &back));
  EXPECT_EQ(back, expected);
}

// ---------------------------------------------------------------------------
// keep() + push_parsed()

TEST(HeaderMap, PushParsedRebasesViewsOntoItsOwnCopy) {
  std::string buf = "GET /p?q=1 HTTP/1.1\r\nX-A: alpha\r\nContent-Length: 12\r\nUser-Agent: ua/1\r\n\r\n";
  Header hs[] = {
      view_header(buf, "X-A", "alpha", HeaderId::Other),
      view_header(buf, "Content-Length", "12", HeaderId::ContentLength),
      view_header(buf, "User-Agent", "ua/1", HeaderId::UserAgent),
  };
  HeaderMap m;
  m.keep(buf);
  m.push_parsed(hs, 3, false);
  ASSERT_EQ(m.size(), 3u);
  for (const HeaderMap::Entry& e : m) {
    EXPECT_FALSE(points_into(e.name, buf)) << e.name;
    EXPECT_FALSE(points_into(e.value, buf)) << e.value;
    EXPECT_FALSE(e.hop_by_hop);
  }
  // Rebased, not copied one by one: the offsets within the head are kept.
  EXPECT_EQ(m.data()[1].name.data() - m.data()[0].name.data(), hs[1].name.data() - hs[0].name.data());
  EXPECT_EQ(m.data()[2].value.data() - m.data()[0].name.data(), hs[2].value.data() - hs[0].name.data());

  // The caller's buffer goes away (overwritten in place, then reallocated).
  std::memset(buf.data(), '#', buf.size());
  buf.assign(4096, '!');
  buf.shrink_to_fit();

  expect_serializes_as(m, {{"X-A", "alpha"}, {"Content-Length", "12"}, {"User-Agent", "ua/1"}});
  EXPECT_EQ(m.data()[0].id, HeaderId::Other);
  EXPECT_EQ(m.data()[1].id, HeaderId::ContentLength);
  EXPECT_EQ(m.data()[2].id, HeaderId::UserAgent);
}

TEST(HeaderMap, PushParsedTakesTheBytesAsOfKeep) {
  std::string buf = "X-A: before\r\n";
  Header h = view_header(buf, "X-A", "before", HeaderId::Other);
  HeaderMap m;
  m.keep(buf);
  buf.replace(buf.find("before"), 6, "AFTER!");  // same address, new text
  m.push_parsed(&h, 1, false);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.data()[0].value, "before");
}

TEST(HeaderMap, PushParsedKeepsIdsEvenWhereTheyDisagreeWithTheName) {
  // The id comes from the parser and is not recomputed.
  std::string buf = "x-custom: v\r\nhost: h\r\n";
  Header hs[] = {
      view_header(buf, "x-custom", "v", HeaderId::XRealIp),
      view_header(buf, "host", "h", HeaderId::Host),
  };
  HeaderMap m;
  m.keep(buf);
  m.push_parsed(hs, 2, false);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.data()[0].id, HeaderId::XRealIp);
  EXPECT_EQ(m.data()[1].id, HeaderId::Host);
}

TEST(HeaderMap, PushParsedSkipsHopByHopAndHostOnlyWhenAsked) {
  std::string req =
      "GET /x HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Connection: keep-alive, X-Drop\r\n"
      "X-Drop: gone\r\n"
      "Keep-Alive: timeout=5\r\n"
      "X-Keep: stays\r\n"
      "TE: trailers\r\n"
      "Content-Length: 0\r\n"
      "\r\n";
  HeadParser p;
  Head h;
  ASSERT_EQ(p.parse_request(req.data(), req.size(), 32768, h), ParseStatus::Complete);
  ASSERT_EQ(h.num_headers, 7u);
  // Preconditions on what the parser marks.
  ASSERT_FALSE(h.headers[0].hop_by_hop);  // Host
  ASSERT_EQ(h.headers[0].id, HeaderId::Host);
  ASSERT_TRUE(h.headers[1].hop_by_hop);   // Connection
  ASSERT_TRUE(h.headers[2].hop_by_hop);   // X-Drop, named in Connection
  ASSERT_TRUE(h.headers[3].hop_by_hop);   // Keep-Alive
  ASSERT_FALSE(h.headers[4].hop_by_hop);  // X-Keep
  ASSERT_TRUE(h.headers[5].hop_by_hop);   // TE
  ASSERT_FALSE(h.headers[6].hop_by_hop);  // Content-Length

  HeaderMap m;
  m.keep(std::string_view(req.data(), h.head_len));
  m.push_pseudo(":method", h.method);
  m.push_pseudo(":path", h.target);
  m.push_parsed(h.headers, h.num_headers, /*skip_host=*/true);
  std::memset(req.data(), 0, req.size());
  expect_serializes_as(m, {{":method", "GET"}, {":path", "/x"}, {"X-Keep", "stays"}, {"Content-Length", "0"}});
  EXPECT_EQ(m.data()[2].id, HeaderId::Other);
  EXPECT_EQ(m.data()[3].id, HeaderId::ContentLength);
  EXPECT_EQ(m.find("host"), nullptr);
  EXPECT_FALSE(m.pseudo_changed());

  // Same head, but Host kept (a response map or skip_host false).
  std::string req2 =
      "GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: X-Drop\r\nX-Drop: gone\r\nX-Keep: stays\r\n\r\n";
  HeadParser p2;
  Head h2;
  ASSERT_EQ(p2.parse_request(req2.data(), req2.size(), 32768, h2), ParseStatus::Complete);
  m.clear();
  m.keep(std::string_view(req2.data(), h2.head_len));
  m.push_parsed(h2.headers, h2.num_headers, /*skip_host=*/false);
  std::memset(req2.data(), 0, req2.size());
  expect_serializes_as(m, {{"Host", "example.com"}, {"X-Keep", "stays"}});
  EXPECT_EQ(m.data()[0].id, HeaderId::Host);
  ASSERT_NE(m.find("HOST"), nullptr);
  EXPECT_EQ(m.find("HOST")->value, "example.com");
}

TEST(HeaderMap, PushParsedSkipsByFlagsNotByName) {
  // Only the flags decide: a hop-by-hop-flagged ordinary name goes, a
  // Host-named header with another id stays.
  std::string buf = "X-One: 1\r\nX-Two: 2\r\nHost: h\r\nX-Three: 3\r\n";
  Header hs[] = {
      view_header(buf, "X-One", "1", HeaderId::Other, /*hop=*/true),
      view_header(buf, "X-Two", "2", HeaderId::Other),
      view_header(buf, "Host", "h", HeaderId::Host),
      view_header(buf, "X-Three", "3", HeaderId::Other),
  };
  HeaderMap m;
  m.keep(buf);
  m.push_parsed(hs, 4, true);
  EXPECT_EQ(to_list(m), (HeaderList{{"X-Two", "2"}, {"X-Three", "3"}}));
  m.clear();
  m.keep(buf);
  m.push_parsed(hs, 4, false);
  EXPECT_EQ(to_list(m), (HeaderList{{"X-Two", "2"}, {"Host", "h"}, {"X-Three", "3"}}));
  // All skipped: nothing appended, nothing left over.
  m.clear();
  m.keep(buf);
  Header only_host[] = {hs[0], hs[2]};
  m.push_parsed(only_host, 2, true);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.begin(), m.end());
}

TEST(HeaderMap, PushParsedAppendsAfterExistingEntries) {
  std::string buf = "A: 1\r\nB: 2\r\n";
  Header hs[] = {view_header(buf, "A", "1", HeaderId::Other), view_header(buf, "B", "2", HeaderId::Other)};
  HeaderMap m;
  m.push_literal(":status", "200");
  m.keep(buf);
  m.push_parsed(hs, 2, false);
  m.push_literal("x-after", "z");
  buf.assign(buf.size(), '?');
  EXPECT_EQ(to_list(m), (HeaderList{{":status", "200"}, {"A", "1"}, {"B", "2"}, {"x-after", "z"}}));
}

// ---------------------------------------------------------------------------
// push_pseudo / push_literal

TEST(HeaderMap, PushPseudoInsideKeptBytesIsRebased) {
  std::string buf = "POST /upload?x=1 HTTP/1.1\r\nX-A: a\r\n\r\n";
  std::string_view sv(buf);
  Header h = view_header(buf, "X-A", "a", HeaderId::Other);
  HeaderMap m;
  m.keep(sv);
  m.push_pseudo(":method", sv.substr(0, 4));
  m.push_pseudo(":path", sv.substr(5, 11));
  m.push_parsed(&h, 1, false);
  ASSERT_EQ(m.size(), 3u);
  // Into the map's copy, at the same offset as in the head.
  EXPECT_FALSE(points_into(m.data()[1].value, buf));
  EXPECT_EQ(m.data()[2].name.data() - m.data()[1].value.data(), h.name.data() - (buf.data() + 5));
  std::memset(buf.data(), 'Z', buf.size());
  EXPECT_EQ(m.get_exact(":method"), "POST");
  EXPECT_EQ(m.get_exact(":path"), "/upload?x=1");
  EXPECT_EQ(m.get_exact("X-A"), "a");
}

TEST(HeaderMap, PushPseudoOutsideKeptBytesIsCopied) {
  std::string head = "GET / HTTP/1.1\r\n\r\n";
  std::string other = "https://authority.example:8443";
  HeaderMap m;
  m.keep(head);
  m.push_pseudo(":scheme", std::string_view(other).substr(0, 5));
  m.push_pseudo(":authority", std::string_view(other).substr(8));
  EXPECT_FALSE(points_into(m.data()[0].value, other));
  EXPECT_FALSE(points_into(m.data()[1].value, other));
  std::memset(other.data(), 'X', other.size());
  other.assign(100, 'Y');
  EXPECT_EQ(m.get_exact(":scheme"), "https");
  EXPECT_EQ(m.get_exact(":authority"), "authority.example:8443");
}

TEST(HeaderMap, PushPseudoStraddlingTheKeptBytesIsCopied) {
  // A view that starts inside the kept range but runs past its end (and one
  // that starts before it) must be copied whole, not rebased.
  std::string buf = "0123456789HEAD-ENDtail-bytes";
  std::string_view sv(buf);
  HeaderMap m;
  m.keep(sv.substr(10, 8));                 // "HEAD-END"
  m.push_pseudo(":a", sv.substr(14, 9));    // "-ENDtail-"
  m.push_pseudo(":b", sv.substr(8, 4));     // "89HE"
  m.push_pseudo(":c", sv.substr(10, 8));    // exactly the kept bytes
  m.push_pseudo(":d", sv.substr(0, 28));    // around them
  std::memset(buf.data(), '.', buf.size());
  EXPECT_EQ(m.get_exact(":a"), "-ENDtail-");
  EXPECT_EQ(m.get_exact(":b"), "89HE");
  EXPECT_EQ(m.get_exact(":c"), "HEAD-END");
  EXPECT_EQ(m.get_exact(":d"), "0123456789HEAD-ENDtail-bytes");
}

TEST(HeaderMap, PushPseudoWithoutKeepCopies) {
  std::string v = "/only/path";
  HeaderMap m;
  m.push_pseudo(":path", v);
  v.assign(v.size(), '-');
  EXPECT_EQ(m.get_exact(":path"), "/only/path");
  m.push_pseudo(":empty", std::string_view());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.data()[1].value.empty());
  EXPECT_FALSE(m.pseudo_changed());
}

TEST(HeaderMap, NothingIsKeptAfterClear) {
  // clear() forgets the kept bytes: a view at the old head's address (the
  // connection buffer, now holding the next request) is copied, not rebased
  // onto the previous request's copy.
  std::string buf = "GET /old HTTP/1.1\r\n";
  std::string_view sv(buf);
  HeaderMap m;
  m.keep(sv);
  m.push_pseudo(":path", sv.substr(4, 4));
  m.clear();
  std::memcpy(buf.data(), "PUT /new", 8);
  m.push_pseudo(":method", sv.substr(0, 3));
  m.push_pseudo(":path", sv.substr(4, 4));
  EXPECT_FALSE(points_into(m.data()[0].value, buf));
  std::memset(buf.data(), '-', buf.size());
  EXPECT_EQ(to_list(m), (HeaderList{{":method", "PUT"}, {":path", "/new"}}));
}

TEST(HeaderMap, PushLiteral) {
  HeaderMap m;
  m.push_literal(":status", "204");
  m.push_literal("server", "wasmgate");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.get_exact(":status"), "204");
  EXPECT_EQ(m.data()[1].name, "server");
  EXPECT_EQ(m.data()[1].value, "wasmgate");
  EXPECT_EQ(m.data()[1].id, HeaderId::Other);  // documented: literals are not classified
  EXPECT_FALSE(m.data()[1].hop_by_hop);
  EXPECT_FALSE(m.pseudo_changed());
}

// ---------------------------------------------------------------------------
// add / find / get_exact / replace / remove / assign

TEST(HeaderMap, AddCopiesAndClassifies) {
  HeaderMap m;
  std::string name = "Content-Length";
  std::string value = "42";
  m.add(name, value);
  name.assign(name.size(), '*');
  value.assign(value.size(), '*');
  m.add("x-forwarded-for", "10.0.0.1");
  m.add("X-Custom", "c");
  m.add("HOST", "h");
  m.add("transfer-encoding", "chunked");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m.data()[0].name, "Content-Length");
  EXPECT_EQ(m.data()[0].value, "42");
  EXPECT_EQ(m.data()[0].id, HeaderId::ContentLength);
  EXPECT_EQ(m.data()[1].id, HeaderId::XForwardedFor);
  EXPECT_EQ(m.data()[2].id, HeaderId::Other);
  EXPECT_EQ(m.data()[3].id, HeaderId::Host);
  EXPECT_EQ(m.data()[4].id, HeaderId::TransferEncoding);
  for (const auto& e : m) EXPECT_FALSE(e.hop_by_hop) << e.name;  // never set, even for hop-by-hop names
}

TEST(HeaderMap, AddKeepsDuplicatesAndEmptyParts) {
  HeaderMap m;
  m.add("set-cookie", "a=1");
  m.add("Set-Cookie", "b=2");
  m.add("x-empty", "");
  m.add("", "nameless");
  m.add("", "");
  expect_serializes_as(m, {{"set-cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"x-empty", ""}, {"", "nameless"}, {"", ""}});
}

TEST(HeaderMap, AddFromItsOwnStorage) {
  HeaderMap m;
  m.add("x-src", "source-value");
  const HeaderMap::Entry* src = m.find("x-src");
  ASSERT_NE(src, nullptr);
  m.add(src->name, src->value);  // aliases the map's own bytes
  for (int i = 0; i < 100; ++i) {
    const HeaderMap::Entry& last = *(m.end() - 1);
    m.add(last.name, last.value);  // items_ may grow under the reference
  }
  ASSERT_EQ(m.size(), 102u);
  for (const auto& e : m) {
    EXPECT_EQ(e.name, "x-src");
    EXPECT_EQ(e.value, "source-value");
  }
}

TEST(HeaderMap, FindIsCaseInsensitiveAndReturnsTheFirst) {
  HeaderMap m;
  m.add("X-Trace", "first");
  m.add("x-trace", "second");
  m.add("X-Trace-Id", "longer");
  const HeaderMap::Entry* e = m.find("x-TRACE");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->value, "first");
  EXPECT_EQ(e, m.data());
  ASSERT_NE(m.find("X-TRACE-ID"), nullptr);
  EXPECT_EQ(m.find("X-TRACE-ID")->value, "longer");
  EXPECT_EQ(m.find("x-trac"), nullptr);    // a prefix is not a match
  EXPECT_EQ(m.find("x-trace-"), nullptr);
  EXPECT_EQ(m.find("absent"), nullptr);
  EXPECT_EQ(m.find(""), nullptr);
}

TEST(HeaderMap, GetExactIsCaseSensitive) {
  HeaderMap m;
  m.push_literal(":path", "/a");
  m.add("X-Mixed", "mixed");
  m.add("x-mixed", "lower");
  EXPECT_EQ(m.get_exact(":path"), "/a");
  EXPECT_EQ(m.get_exact("X-Mixed"), "mixed");
  EXPECT_EQ(m.get_exact("x-mixed"), "lower");
  EXPECT_EQ(m.get_exact("X-MIXED"), "");
  EXPECT_EQ(m.get_exact(":PATH"), "");
  EXPECT_EQ(m.get_exact(":pat"), "");
  EXPECT_TRUE(m.get_exact("absent").empty());
}

TEST(HeaderMap, ReplaceTakesTheFirstRemovesLaterDuplicatesAppendsWhenAbsent) {
  HeaderMap m;
  m.add("A", "1");
  m.add("X-Dup", "d1");
  m.add("B", "2");
  m.add("x-dup", "d2");
  m.add("C", "3");
  m.add("X-DUP", "d3");
  std::string v = "new";
  m.replace("x-Dup", v);
  v.assign(v.size(), '#');
  expect_serializes_as(m, {{"A", "1"}, {"X-Dup", "new"}, {"B", "2"}, {"C", "3"}});

  m.replace("D", "4");  // absent: appended, classified like add
  m.replace("content-length", "9");
  expect_serializes_as(m, {{"A", "1"}, {"X-Dup", "new"}, {"B", "2"}, {"C", "3"}, {"D", "4"}, {"content-length", "9"}});
  EXPECT_EQ(m.find("Content-Length")->id, HeaderId::ContentLength);

  m.replace("a", "");  // empty value
  ASSERT_NE(m.find("A"), nullptr);
  EXPECT_EQ(m.find("A")->value, "");
  EXPECT_EQ(m.size(), 6u);

  // The value may be a view into the map itself.
  m.replace("B", m.find("X-Dup")->value);
  EXPECT_EQ(m.find("b")->value, "new");
  m.replace("C", m.find("C")->value);
  EXPECT_EQ(m.find("c")->value, "3");
  expect_serializes_as(m, {{"A", ""}, {"X-Dup", "new"}, {"B", "new"}, {"C", "3"}, {"D", "4"}, {"content-length", "9"}});
}

TEST(HeaderMap, ReplaceOfParsedEntryKeepsItsId) {
  std::string buf = "Content-Length: 10\r\n";
  Header h = view_header(buf, "Content-Length", "10", HeaderId::ContentLength);
  HeaderMap m;
  m.keep(buf);
  m.push_parsed(&h, 1, false);
  m.replace("content-length", "2000");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m.data()[0].value, "2000");
  EXPECT_EQ(m.data()[0].id, HeaderId::ContentLength);
}

TEST(HeaderMap, RemoveTakesEveryMatchInAnyCase) {
  HeaderMap m;
  m.add("Set-Cookie", "a");
  m.add("X-Keep", "k1");
  m.add("set-cookie", "b");
  m.add("SET-COOKIE", "c");
  m.add("Set-Cookie2", "not-a-match");
  m.add("X-Keep", "k2");
  m.remove("sEt-CoOkIe");
  expect_serializes_as(m, {{"X-Keep", "k1"}, {"Set-Cookie2", "not-a-match"}, {"X-Keep", "k2"}});
  m.remove("absent");
  EXPECT_EQ(m.size(), 3u);
  m.remove("x-keep");
  expect_serializes_as(m, {{"Set-Cookie2", "not-a-match"}});
  m.remove("SET-COOKIE2");
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(serialize(m), serialize_pairs({}));
}

TEST(HeaderMap, AssignReplacesEverything) {
  HeaderMap m;
  std::string buf = "X-Old: old\r\n";
  Header h = view_header(buf, "X-Old", "old", HeaderId::Other);
  m.keep(buf);
  m.push_pseudo(":status", "200");
  m.push_parsed(&h, 1, false);
  HeaderList list = {{":status", "404"}, {"Content-Length", "7"}, {"x-empty", ""}, {"x-dup", "1"}, {"X-Dup", "2"}};
  m.assign(list);
  list[1].second = "mutated";  // copied, not referenced
  expect_serializes_as(m, {{":status", "404"}, {"Content-Length", "7"}, {"x-empty", ""}, {"x-dup", "1"}, {"X-Dup", "2"}});
  EXPECT_EQ(m.data()[1].id, HeaderId::ContentLength);
  EXPECT_EQ(m.find("x-old"), nullptr);

  m.assign({});
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.pseudo_changed());
}

TEST(HeaderMap, AssignFromItsOwnSerialization) {
  HeaderMap m;
  m.push_literal(":method", "GET");
  m.add("a", "1");
  m.add("b", "");
  HeaderList list;
  ASSERT_TRUE(parse_pairs(serialize(m), &list));
  list.emplace_back("c", "3");
  m.assign(list);
  expect_serializes_as(m, {{":method", "GET"}, {"a", "1"}, {"b", ""}, {"c", "3"}});
}

// ---------------------------------------------------------------------------
// pseudo_changed()

TEST(HeaderMap, PseudoChangedTracksFilterEditsOfPseudoHeaders) {
  std::string buf = "GET /x HTTP/1.1\r\nX-A: a\r\n";
  Header h = view_header(buf, "X-A", "a", HeaderId::Other);
  HeaderMap m;
  EXPECT_FALSE(m.pseudo_changed());

  auto fresh = [&] {
    m.clear();
    m.keep(buf);
    m.push_pseudo(":method", std::string_view(buf).substr(0, 3));
    m.push_pseudo(":path", "/x");
    m.push_literal(":scheme", "http");
    m.push_parsed(&h, 1, false);
  };

  fresh();
  EXPECT_FALSE(m.pseudo_changed());  // pushes do not count
  m.add("x-normal", "1");
  m.replace("x-a", "2");
  m.remove("x-normal");
  m.remove("x-absent");
  EXPECT_FALSE(m.pseudo_changed());  // normal names do not count
  EXPECT_EQ(m.get_exact(":path"), "/x");

  m.add(":new", "v");
  EXPECT_TRUE(m.pseudo_changed());
  fresh();
  EXPECT_FALSE(m.pseudo_changed());  // clear() resets it

  m.replace(":path", "/y");
  EXPECT_TRUE(m.pseudo_changed());
  EXPECT_EQ(m.get_exact(":path"), "/y");
  fresh();

  m.replace(":absent", "appended");
  EXPECT_TRUE(m.pseudo_changed());
  fresh();

  m.remove(":scheme");
  EXPECT_TRUE(m.pseudo_changed());
  EXPECT_EQ(m.get_exact(":scheme"), "");
  fresh();

  m.remove(":not-there");  // touched, even though nothing matched
  EXPECT_TRUE(m.pseudo_changed());
  fresh();

  m.assign({{"x-only", "normal"}});  // no pseudo names, still a change
  EXPECT_TRUE(m.pseudo_changed());
  m.add("x-more", "1");
  EXPECT_TRUE(m.pseudo_changed());  // sticky until clear()
  m.clear();
  EXPECT_FALSE(m.pseudo_changed());
  EXPECT_TRUE(m.empty());
}

// ---------------------------------------------------------------------------
// Serialization

TEST(HeaderMap, SerializeMatchesSerializePairs) {
  std::string head = "GET /s HTTP/1.1\r\nAccept: */*\r\nX-Empty: \r\nUser-Agent: t\r\n\r\n";
  Header hs[] = {
      view_header(head, "Accept", "*/*", HeaderId::Other),
      {std::string_view(head).substr(head.find("X-Empty"), 7), std::string_view(), HeaderId::Other, false},
      view_header(head, "User-Agent", "t", HeaderId::UserAgent),
  };
  HeaderMap m;
  expect_serializes_as(m, {});
  EXPECT_EQ(serialized_size(m), 4u);

  m.keep(head);
  m.push_pseudo(":method", std::string_view(head).substr(0, 3));
  m.push_pseudo(":path", "/s");
  m.push_parsed(hs, 3, true);
  m.push_literal(":scheme", "");
  m.add("x-added", std::string(300, 'v'));
  m.add("x-blank", "");
  std::string binary("a\0b\x01\xff", 5);  // any bytes, including NUL, pass through
  m.add("x-bin", binary);
  head.assign(head.size(), '\0');
  HeaderList expected = {{":method", "GET"},   {":path", "/s"},      {"Accept", "*/*"},
                         {"X-Empty", ""},      {"User-Agent", "t"},  {":scheme", ""},
                         {"x-added", std::string(300, 'v')},        {"x-blank", ""},
                         {"x-bin", binary}};
  expect_serializes_as(m, expected);

  // Layout spot check of the header: count, then the first pair's sizes.
  std::string s = serialize(m);
  uint32_t n, k0, v0;
  std::memcpy(&n, s.data(), 4);
  std::memcpy(&k0, s.data() + 4, 4);
  std::memcpy(&v0, s.data() + 8, 4);
  EXPECT_EQ(n, expected.size());
  EXPECT_EQ(k0, 7u);
  EXPECT_EQ(v0, 3u);
  EXPECT_EQ(s.substr(4 + 8 * expected.size(), 12), std::string(":method\0GET\0", 12));
}

// ---------------------------------------------------------------------------
// Reuse, compaction, growth

TEST(HeaderMap, ClearEmptiesAndTheMapIsReusableAcrossRequests) {
  HeaderMap m;
  std::string buf;  // one connection buffer, reused and overwritten
  for (int i = 0; i < 1000; ++i) {
    std::string id = std::to_string(i);
    // Vary sizes so blocks are reused with different fits, sometimes past a block.
    std::string big(static_cast<size_t>((i * 37) % 6000), static_cast<char>('a' + i % 26));
    buf = "GET /r/" + id + " HTTP/1.1\r\nHost: h" + id + "\r\nX-Req: " + id + "\r\nX-Big: " + big +
          "\r\nConnection: close\r\n\r\n";
    HeadParser p;
    Head h;
    ASSERT_EQ(p.parse_request(buf.data(), buf.size(), 65536, h), ParseStatus::Complete) << i;

    m.clear();
    ASSERT_TRUE(m.empty()) << i;
    ASSERT_EQ(m.size(), 0u);
    ASSERT_EQ(m.begin(), m.end());
    ASSERT_EQ(m.find("x-req"), nullptr) << i;
    ASSERT_FALSE(m.pseudo_changed()) << i;
    ASSERT_EQ(serialize(m), serialize_pairs({})) << i;

    m.keep(std::string_view(buf.data(), h.head_len));
    m.push_pseudo(":method", h.method);
    m.push_pseudo(":path", h.target);
    m.push_pseudo(":authority", h.host);
    m.push_parsed(h.headers, h.num_headers, true);
    std::string added(static_cast<size_t>((i * 53) % 5000), static_cast<char>('A' + i % 26));
    m.add("x-added-" + id, added);
    if (i % 3 == 0) m.replace("x-req", "r" + id);
    if (i % 5 == 0) m.add(":filter", id);
    std::memset(buf.data(), '~', buf.size());  // the connection buffer moves on

    HeaderList expected = {{":method", "GET"},
                           {":path", "/r/" + id},
                           {":authority", "h" + id},
                           {"X-Req", i % 3 == 0 ? "r" + id : id},
                           {"X-Big", big},
                           {"x-added-" + id, added}};
    if (i % 5 == 0) expected.emplace_back(":filter", id);
    ASSERT_EQ(to_list(m), expected) << "request " << i;
    ASSERT_EQ(serialize(m), serialize_pairs(lower_names(expected))) << "request " << i;
    ASSERT_EQ(m.pseudo_changed(), i % 5 == 0) << i;
    ASSERT_EQ(m.find("X-ADDED-" + id)->id, HeaderId::Other);
  }
}

TEST(HeaderMap, ClearAfterAHugeRequestStillWorks) {
  // More than the storage kept across requests, and more than 1024 entries:
  // clear() gives both back; the map must work after that.
  HeaderMap m;
  for (int i = 0; i < 1500; ++i) m.add("x-" + std::to_string(i), std::string(100, 'h'));
  ASSERT_EQ(m.size(), 1500u);
  EXPECT_EQ(m.data()[1499].name, "x-1499");
  m.clear();
  EXPECT_TRUE(m.empty());
  std::string buf = "A: 1\r\n";
  Header h = view_header(buf, "A", "1", HeaderId::Other);
  m.keep(buf);
  m.push_parsed(&h, 1, false);
  m.add("b", "2");
  buf.assign(buf.size(), '-');
  expect_serializes_as(m, {{"A", "1"}, {"b", "2"}});
}

TEST(HeaderMap, ManyLargeReplacementsStayCorrect) {
  std::string head = "GET /big HTTP/1.1\r\nX-Parsed: parsed-value\r\nX-Target: initial\r\n\r\n";
  Header hs[] = {
      view_header(head, "X-Parsed", "parsed-value", HeaderId::Other),
      view_header(head, "X-Target", "initial", HeaderId::Other),
  };
  HeaderMap m;
  m.keep(head);
  m.push_pseudo(":path", std::string_view(head).substr(4, 4));
  m.push_parsed(hs, 2, false);
  m.push_literal("x-literal", "lit");
  m.add("x-added", "added-value");
  std::memset(head.data(), '%', head.size());

  std::string value(4096, '\0');
  for (int i = 0; i < 2000; ++i) {
    std::memset(value.data(), 'a' + i % 26, value.size());
    std::string tag = std::to_string(i);
    std::memcpy(value.data(), tag.data(), tag.size());
    std::memcpy(value.data() + value.size() - tag.size(), tag.data(), tag.size());
    m.replace(i % 2 ? "X-TARGET" : "x-target", value);
    ASSERT_EQ(m.size(), 5u) << i;
    const HeaderMap::Entry* e = m.find("x-target");
    ASSERT_NE(e, nullptr) << i;
    ASSERT_EQ(e->value, value) << i;
    if (i % 97 == 0) {
      // The entries that were never replaced survive every compaction.
      ASSERT_EQ(m.get_exact(":path"), "/big") << i;
      ASSERT_EQ(m.get_exact("X-Parsed"), "parsed-value") << i;
      ASSERT_EQ(m.get_exact("x-literal"), "lit") << i;
      ASSERT_EQ(m.get_exact("x-added"), "added-value") << i;
    }
  }
  expect_serializes_as(m, {{":path", "/big"},
                           {"X-Parsed", "parsed-value"},
                           {"X-Target", value},
                           {"x-literal", "lit"},
                           {"x-added", "added-value"}});
  EXPECT_EQ(serialized_size(m), 4 + 5 * 8 + (5 + 1 + 4 + 1) + (8 + 1 + 12 + 1) + (8 + 1 + 4096 + 1) +
                                     (9 + 1 + 3 + 1) + (7 + 1 + 11 + 1));
  EXPECT_FALSE(m.pseudo_changed());

  // Compaction dropped the copy of the head: a view into the head's old
  // address range pushed now is copied from what is there now.
  std::memcpy(head.data() + 4, "/NEW", 4);
  m.push_pseudo(":late-path", std::string_view(head).substr(4, 4));
  head.assign(head.size(), '&');
  EXPECT_EQ(m.get_exact(":late-path"), "/NEW");
  m.remove(":late-path");

  // Still usable for further edits and the next request.
  m.add(":late", "x");
  m.remove("x-parsed");
  EXPECT_EQ(to_list(m), (HeaderList{{":path", "/big"}, {"X-Target", value}, {"x-literal", "lit"},
                                    {"x-added", "added-value"}, {":late", "x"}}));
  m.clear();
  m.add("after", "clear");
  EXPECT_EQ(to_list(m), (HeaderList{{"after", "clear"}}));
}

TEST(HeaderMap, ManyLargeReplacementsWithDuplicatesAndAdds) {
  // Replace with duplicates present, and add/remove churn of large values:
  // add() also compacts.
  HeaderMap m;
  m.add("x-keep", "k");
  std::string value;
  for (int i = 0; i < 1000; ++i) {
    value.assign(3000 + static_cast<size_t>(i % 7) * 500, static_cast<char>('0' + i % 10));
    m.add("x-dup", "dup-" + std::to_string(i));
    m.add("x-churn", value);
    m.replace("X-DUP", value);
    m.remove("x-churn");
    ASSERT_EQ(m.size(), 2u) << i;
    ASSERT_EQ(m.data()[0].name, "x-keep") << i;
    ASSERT_EQ(m.data()[0].value, "k") << i;
    ASSERT_EQ(m.data()[1].name, "x-dup") << i;
    ASSERT_EQ(m.data()[1].value, value) << i;
  }
  expect_serializes_as(m, {{"x-keep", "k"}, {"x-dup", value}});
}

TEST(HeaderMap, ManyAddsGrowTheEntryArray) {
  HeaderMap m;
  std::string head = "X-P0: p0\r\nX-P1: p1\r\n";
  Header hs[] = {view_header(head, "X-P0", "p0", HeaderId::Other),
                 view_header(head, "X-P1", "p1", HeaderId::Other)};
  m.keep(head);
  m.push_parsed(hs, 2, false);
  HeaderList expected = {{"X-P0", "p0"}, {"X-P1", "p1"}};
  const std::vector<std::string> names = {"Content-Length", "x-custom", "Via", "X-Forwarded-Proto"};
  const std::vector<HeaderId> ids = {HeaderId::ContentLength, HeaderId::Other, HeaderId::Via,
                                     HeaderId::XForwardedProto};
  for (int i = 0; i < 300; ++i) {
    std::string name = names[static_cast<size_t>(i) % names.size()];
    std::string value = "v" + std::to_string(i) + std::string(static_cast<size_t>(i % 40), '.');
    m.add(name, value);
    expected.emplace_back(name, value);
  }
  head.assign(head.size(), 'X');
  ASSERT_EQ(m.size(), 302u);
  expect_serializes_as(m, expected);
  for (size_t i = 2; i < m.size(); ++i) {
    EXPECT_EQ(m.data()[i].id, ids[(i - 2) % ids.size()]) << i;
  }
  EXPECT_EQ(m.find("content-length")->value, "v0");  // the first of 75
  EXPECT_EQ(m.find("via")->value, "v2" + std::string(2, '.'));
  m.replace("VIA", "only");
  EXPECT_EQ(m.size(), 302u - 74u);
  m.remove("content-length");
  EXPECT_EQ(m.size(), 302u - 74u - 75u);
  HeaderList after;
  for (const auto& [k, v] : expected) {
    if (k == "Content-Length") continue;
    if (k == "Via") {
      if (std::none_of(after.begin(), after.end(), [](const auto& p) { return p.first == "Via"; })) {
        after.emplace_back("Via", "only");
      }
      continue;
    }
    after.emplace_back(k, v);
  }
  expect_serializes_as(m, after);
}

TEST(HeaderMap, PushParsedGrowsPastTheFirstCapacity) {
  // A full head (kMaxHeaders) after entries already there: push_parsed grows
  // the array itself.
  std::string head;
  for (size_t i = 0; i < wg::http::kMaxHeaders; ++i) {
    head += "X-H" + std::to_string(i) + ": value-" + std::to_string(i) + "\r\n";
  }
  std::vector<Header> hs;
  HeaderList expected;
  for (int i = 0; i < 3; ++i) expected.emplace_back(":p" + std::to_string(i), "q");
  size_t pos = 0;
  for (size_t i = 0; i < wg::http::kMaxHeaders; ++i) {
    size_t colon = head.find(':', pos);
    size_t eol = head.find("\r\n", colon);
    Header h{std::string_view(head).substr(pos, colon - pos),
             std::string_view(head).substr(colon + 2, eol - colon - 2), HeaderId::Other, i % 10 == 0};
    hs.push_back(h);
    if (!h.hop_by_hop) expected.emplace_back(std::string(h.name), std::string(h.value));
    pos = eol + 2;
  }
  HeaderMap m;
  m.push_literal(":p0", "q");
  m.push_literal(":p1", "q");
  m.push_literal(":p2", "q");
  m.keep(head);
  m.push_parsed(hs.data(), hs.size(), false);
  head.assign(head.size(), '=');
  ASSERT_EQ(m.size(), expected.size());
  expect_serializes_as(m, expected);
  m.add("x-tail", "t");
  EXPECT_EQ((m.end() - 1)->name, "x-tail");
  EXPECT_EQ(m.data()[3].name, "X-H1");
}

}  // namespace

// A trailer section as the chunked decoder gives it: fields trimmed of
// surrounding blanks, lines that are not fields skipped and counted.
TEST(HeaderMapFieldLines, AddsFieldsAndSkipsTheRest) {
  wg::wasm::HeaderMap m;
  size_t skipped = m.add_field_lines("X-Sum: 42\nno colon here\n bad name: x\nx-empty:\nx-tabs:\t a b \t\nlast: 1");
  EXPECT_EQ(skipped, 2u);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m.find("x-sum")->value, "42");
  EXPECT_EQ(m.find("x-empty")->value, "");
  EXPECT_EQ(m.find("x-tabs")->value, "a b");
  EXPECT_EQ(m.find("last")->value, "1");  // no final newline
  EXPECT_EQ(m.add_field_lines(""), 0u);
  EXPECT_EQ(m.size(), 4u);
}

// Names are remembered by length and compared byte for byte: a name of
// the same length with one byte different, or a different length, misses;
// a newer name of the same slot replaces the older one.
TEST(HeaderNameCache, RemembersCheckedNamesWithTheirId) {
  wg::wasm::HeaderNameCache c;
  wg::http::HeaderId id = wg::http::HeaderId::Other;
  EXPECT_FALSE(c.find("x-chain", &id));
  c.put("x-chain", wg::http::HeaderId::Other);
  c.put("Content-Length", wg::http::HeaderId::ContentLength);
  c.put("a", wg::http::HeaderId::Other);
  c.put("host", wg::http::HeaderId::Host);  // the four lengths of these fill the four slots
  EXPECT_TRUE(c.find("x-chain", &id));
  EXPECT_EQ(id, wg::http::HeaderId::Other);
  EXPECT_TRUE(c.find("Content-Length", &id));
  EXPECT_EQ(id, wg::http::HeaderId::ContentLength);
  EXPECT_TRUE(c.find("host", &id));
  EXPECT_EQ(id, wg::http::HeaderId::Host);
  EXPECT_TRUE(c.find("a", &id));
  EXPECT_FALSE(c.find("x-chaim", &id));          // last byte differs (4..7 bytes)
  EXPECT_FALSE(c.find("y-chain", &id));          // first byte differs
  EXPECT_FALSE(c.find("Content-Lengtx", &id));   // 8..16 bytes
  EXPECT_FALSE(c.find("content-length", &id));   // case matters: the id was for these bytes
  EXPECT_FALSE(c.find("b", &id));                // under 4 bytes
  EXPECT_FALSE(c.find("x-chain-", &id));         // another length
  EXPECT_FALSE(c.find("", &id));
  // Same slot (length mod 4), newer name wins.
  c.put("x-chain-resp", wg::http::HeaderId::Other);  // 12: replaces host (4)
  EXPECT_TRUE(c.find("x-chain-resp", &id));
  EXPECT_FALSE(c.find("host", &id));
  c.put("x-abc", wg::http::HeaderId::Other);  // 5: replaces "a", not x-chain (7)
  EXPECT_TRUE(c.find("x-chain", &id));
  EXPECT_FALSE(c.find("a", &id));
  c.put("x-aaaaaaaaaa", wg::http::HeaderId::Other);  // 12 again: replaces x-chain-resp
  EXPECT_FALSE(c.find("x-chain-resp", &id));
  EXPECT_TRUE(c.find("x-aaaaaaaaaa", &id));
  // Longer than kMaxName: never remembered (the caller checks it each time).
  const std::string longer(wg::wasm::HeaderNameCache::kMaxName + 1, 'x');
  c.put(longer, wg::http::HeaderId::Other);
  EXPECT_FALSE(c.find(longer, &id));
  const std::string longest(wg::wasm::HeaderNameCache::kMaxName, 'y');
  c.put(longest, wg::http::HeaderId::Other);
  EXPECT_TRUE(c.find(longest, &id));
}

// kept(): a view into the head given to keep() maps onto the map's copy
// (still readable once the original bytes changed); anything else, and
// everything after clear(), is empty.
TEST(HeaderMapKept, MapsViewsOfTheKeptHeadOntoTheCopy) {
  std::string head = "HTTP/1.1 404 Not Here\r\nA: b\r\n\r\n";
  wg::wasm::HeaderMap m;
  m.keep(head);
  std::string_view reason = std::string_view(head).substr(13, 8);
  std::string_view k = m.kept(reason);
  head.assign(head.size(), '#');
  EXPECT_EQ(k, "Not Here");
  EXPECT_EQ(m.kept(head).size(), head.size());  // the whole head
  EXPECT_EQ(m.kept(std::string_view(head).substr(20)).size(), head.size() - 20);
  std::string other = "Not Here";
  EXPECT_TRUE(m.kept(other).empty());
  EXPECT_TRUE(m.kept(std::string_view(head.data() + head.size() - 2, 4)).empty());  // runs past the end
  EXPECT_TRUE(m.kept(std::string_view()).empty());
  m.clear();
  EXPECT_TRUE(m.kept(std::string_view(head).substr(13, 8)).empty());
}

TEST(HeaderMap, FiltersGetLowerCaseNamesAndTheMapKeepsTheSpelling) {
  HeaderMap m;
  m.add("This-Is-Key", "Value-Stays");
  m.add("x-already", "v");
  m.add("ÄB-Z@[", "w");  // only A-Z change: bytes around them and non-ASCII stay
  HeaderList back;
  ASSERT_TRUE(parse_pairs(serialize(m), &back));
  EXPECT_EQ(back, (HeaderList{{"this-is-key", "Value-Stays"}, {"x-already", "v"}, {"Äb-z@[", "w"}}));
  EXPECT_EQ(to_list(m), (HeaderList{{"This-Is-Key", "Value-Stays"}, {"x-already", "v"}, {"ÄB-Z@[", "w"}}));
  ASSERT_NE(m.find("THIS-IS-KEY"), nullptr);
  EXPECT_EQ(m.find("this-is-key")->value, "Value-Stays");
}

namespace {

// How the session's head writers put an entry on the wire (proxy/wire.h).
std::string wire_of(const HeaderMap& m) {
  std::string out;
  for (const auto& e : m) {
    if (e.wire_line) {
      out.append(e.name.data(), e.name.size() + e.value.size() + 4);
    } else {
      out.append(e.name).append(": ").append(e.value).append("\r\n");
    }
  }
  return out;
}

}  // namespace

TEST(HeaderMapLines, AddLineAndPushLineAreEntriesWithTheirWireLine) {
  HeaderMap m;
  static const std::string kLimit = "X-RateLimit-Limit-Second: 10\r\n";
  m.add("a", "1");
  m.push_line(kLimit, kLimit.find(":"), HeaderId::Other);
  std::string value = "9";
  m.add_line("X-RateLimit-Remaining-Second", value, HeaderId::Other);
  value = "*";
  m.add_line("x-empty", "", HeaderId::Other);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_FALSE(m.data()[0].wire_line);
  EXPECT_TRUE(m.data()[1].wire_line);
  EXPECT_EQ(m.data()[1].name.data(), kLimit.data());  // not copied
  EXPECT_EQ(m.data()[1].name, "X-RateLimit-Limit-Second");
  EXPECT_EQ(m.data()[1].value, "10");
  EXPECT_EQ(m.data()[2].value, "9");
  EXPECT_EQ(m.find("x-ratelimit-remaining-second"), &m.data()[2]);
  EXPECT_EQ(wire_of(m), "a: 1\r\nX-RateLimit-Limit-Second: 10\r\nX-RateLimit-Remaining-Second: 9\r\nx-empty: \r\n");
}

TEST(HeaderMapLines, ReplacingALineValueLeavesAnOrdinaryEntry) {
  HeaderMap m;
  m.add_line("X-One", "1", HeaderId::Other);
  m.push_line("X-Two: 2\r\n", 5, HeaderId::Other);
  m.replace("x-one", "longer value");
  m.replace("X-TWO", "22");
  EXPECT_FALSE(m.data()[0].wire_line);
  EXPECT_FALSE(m.data()[1].wire_line);
  EXPECT_EQ(wire_of(m), "X-One: longer value\r\nX-Two: 22\r\n");
  m.remove("x-one");
  EXPECT_EQ(wire_of(m), "X-Two: 22\r\n");
}

TEST(HeaderMap, ADeferredHeadIsReadInPlaceAndCopiedInOnlyWhenChanged) {
  const std::string bytes = "GET /p HTTP/1.1\r\nHost: a\r\nConnection: close\r\nAccept: */*\r\n\r\n";
  HeadParser parser;
  Head head;
  ASSERT_EQ(parser.parse_request(bytes.data(), bytes.size(), 32768, head), ParseStatus::Complete);
  const HeaderMap::Pseudo pseudo[] = {{":method", head.method}, {":path", head.target}, {":authority", head.host},
                                      {":scheme", "http", true}};
  HeaderMap m;
  m.defer({bytes.data(), head.head_len}, head.headers, head.num_headers, true, pseudo, 4);
  EXPECT_TRUE(m.deferred());
  EXPECT_EQ(m.count(), 5u);  // four pseudo-headers and Accept: Host is :authority, Connection hop-by-hop
  EXPECT_EQ(m.size(), 0u);
  ASSERT_NE(m.find("accept"), nullptr);
  EXPECT_EQ(m.find("accept")->value, "*/*");
  EXPECT_EQ(m.find("host"), nullptr);
  EXPECT_EQ(m.get_exact(":path"), "/p");
  ASSERT_NE(m.find(":scheme"), nullptr);
  m.add_line("x-added", "1", HeaderId::Other);
  EXPECT_EQ(m.count(), 6u);
  EXPECT_TRUE(m.deferred());  // adding keeps it deferred
  size_t seen = 0;
  EXPECT_FALSE(m.any_field([&](const Header&) { return ++seen, false; }));
  EXPECT_EQ(seen, 2u);  // Accept and x-added: the deferred pseudo-headers are not offered
  m.replace("Accept", "text/plain");  // changing an entry copies the head in, the additions after it
  EXPECT_FALSE(m.deferred());
  ASSERT_EQ(m.size(), 6u);
  EXPECT_EQ(m.data()[0].name, ":method");
  EXPECT_EQ(m.data()[3].value, "http");
  EXPECT_EQ(m.data()[4].name, "Accept");
  EXPECT_EQ(m.data()[4].value, "text/plain");
  EXPECT_EQ(m.data()[5].name, "x-added");
  EXPECT_NE(m.data()[1].value.data(), head.target.data());  // the map's copy, not the read buffer
  EXPECT_EQ(m.data()[1].value, "/p");
  m.clear();
  EXPECT_FALSE(m.deferred());
  EXPECT_EQ(m.count(), 0u);
}

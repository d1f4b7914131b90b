// The helpers behind basic-auth and hmac-auth (src/plugins/auth_codec,
// src/config/credentials): nginx's base64, the Basic and hmac header
// parsing, the signing string, HMAC, the Digest header, HTTP dates and
// Kong's password hash. Expected values computed with Python's hashlib/hmac.
#include "plugins/auth_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "config/credentials.h"

namespace wg::plugins::auth {
namespace {

TEST(AuthCodec, DecodeBase64AsNginx) {
  std::string out;
  EXPECT_TRUE(decode_base64("dXNlcjpwYXNz", out));
  EXPECT_EQ(out, "user:pass");
  EXPECT_TRUE(decode_base64("YQ==", out));
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(decode_base64("YQ", out));  // padding is optional
  EXPECT_EQ(out, "a");
  EXPECT_TRUE(decode_base64("YQ=garbage", out));  // input ends at the first '='
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(decode_base64("Y", out));  // no base64 has that length
  EXPECT_FALSE(decode_base64("dXN lcg", out));
  EXPECT_FALSE(decode_base64("dXNl-g", out));  // URL-safe alphabet is not nginx's
  EXPECT_EQ(encode_base64("user:pass"), "dXNlcjpwYXNz");
}

TEST(AuthCodec, ParseBasicAsKong) {
  std::string user, pass;
  EXPECT_TRUE(parse_basic("Basic dXNlcjpwYXNz", user, pass));
  EXPECT_EQ(user, "user");
  EXPECT_EQ(pass, "pass");
  EXPECT_TRUE(parse_basic("basic   " + encode_base64("a:b:c"), user, pass));
  EXPECT_EQ(user, "a");
  EXPECT_EQ(pass, "b:c");  // split at the first colon
  EXPECT_TRUE(parse_basic("Basic " + encode_base64("u:"), user, pass));
  EXPECT_EQ(pass, "");  // an empty password is a password
  EXPECT_TRUE(parse_basic("Basic " + encode_base64("::u:p"), user, pass));
  EXPECT_EQ(user, "u");  // the user is the first run without a colon that a colon follows
  EXPECT_FALSE(parse_basic("Basic " + encode_base64("nocolon"), user, pass));
  EXPECT_FALSE(parse_basic("Basic " + encode_base64(":::"), user, pass));
  EXPECT_FALSE(parse_basic("Bearer dXNlcjpwYXNz", user, pass));
  EXPECT_FALSE(parse_basic("Basic", user, pass));
  EXPECT_FALSE(parse_basic("Basic  ", user, pass));
  EXPECT_FALSE(parse_basic("BASIC dXNlcjpwYXNz", user, pass));
}

TEST(AuthCodec, ParseHmac) {
  HmacParams p = parse_hmac(
      R"(hmac username="alice", algorithm="hmac-sha256", headers="date @request-target", signature="c2ln")");
  ASSERT_TRUE(p.found);
  EXPECT_EQ(p.username, "alice");
  EXPECT_EQ(p.algorithm, "hmac-sha256");
  EXPECT_EQ(p.signature, "c2ln");
  EXPECT_EQ(p.headers, (std::vector<std::string>{"date", "@request-target"}));
  p = parse_hmac(R"(Hmac username="a",algorithm="x",headers="a  b",signature="s")");
  ASSERT_TRUE(p.found);
  EXPECT_EQ(p.headers, (std::vector<std::string>{"a", "", "b"}));  // split at each single space
  EXPECT_FALSE(parse_hmac(R"(hmac username="a", algorithm="x", signature="s")").found);
  EXPECT_FALSE(parse_hmac("Basic abc").found);
  EXPECT_FALSE(parse_hmac("").found);
}

TEST(AuthCodec, SigningStringAndHmac) {
  http::HeaderMap h;
  h.add("Date", "x");
  h.add(":authority", "api.local");
  h.add("X-Custom", "v");
  SignedRequest r{&h, "GET", "/a?b", 1};
  std::string s = signing_string({"date", "@request-target"}, r);
  EXPECT_EQ(s, "date: x\n@request-target: get /a?b");
  EXPECT_EQ(encode_base64(*hmac("hmac-sha256", "secret", s)), "OPfnGhBcnsuzU6w6pzAaO8n0SMs75l9miW0TILuEg9k=");
  EXPECT_EQ(signing_string({"request-line", "Host", "x_custom", "absent"}, r),
            "GET /a?b HTTP/1.1\nHost: api.local\nx_custom: v\nabsent:");
  r.minor_version = 0;
  EXPECT_EQ(signing_string({"request-line"}, r), "GET /a?b HTTP/1.0");
  EXPECT_EQ(hmac("hmac-sha1", "k", "d")->size(), 20u);
  EXPECT_EQ(hmac("hmac-sha384", "k", "d")->size(), 48u);
  EXPECT_EQ(hmac("hmac-sha512", "k", "d")->size(), 64u);
  EXPECT_FALSE(hmac("hmac-md5", "k", "d"));
}

TEST(AuthCodec, DigestHeader) {
  EXPECT_EQ(sha256_digest_header("hello"), "SHA-256=LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=");
}

TEST(AuthCodec, HttpDates) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"));
  EXPECT_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"));
  EXPECT_FALSE(parse_http_date(""));
}

TEST(AuthCodec, KongPasswordHash) {
  // SHA-1 of the password followed by the consumer id, in lower-case hex.
  EXPECT_EQ(config::basicauth_password_hash("cid", "pw"), "2b9a9d9421794c240ecf2b271c739bbcdd0ca92a");
  EXPECT_EQ(config::random_secret().size(), 32u);
  EXPECT_NE(config::random_secret(), config::random_secret());
}

}  // namespace
}  // namespace wg::plugins::auth

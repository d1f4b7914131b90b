// The encodings and digests behind basic-auth and hmac-auth, apart from the
// plugins so they can be tested on their own: nginx's base64 decoding (as
// Kong's ngx.decode_base64), the Basic credential's parts, the hmac
// Authorization parameters, the signing string, the HMAC itself, the
// Digest header and HTTP dates.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/header_map.h"

namespace wg::plugins::auth {

// nginx's base64 decoding: the standard alphabet, padding optional, input
// ends at the first '='; false on any other character or a length that
// cannot be base64.
bool decode_base64(std::string_view in, std::string& out);
std::string encode_base64(std::string_view in);

// The user and password of a Basic Authorization value, as Kong reads it:
// the first "Basic <base64>" in the value, decoded, split at the first
// colon after a non-empty user. False when any step fails.
bool parse_basic(std::string_view header, std::string& user, std::string& password);

// The parameters of an hmac Authorization value:
//   hmac username="u", algorithm="hmac-sha256", headers="date request-line", signature="b64"
struct HmacParams {
  bool found = false;  // the value had that shape
  std::string username, algorithm, signature;
  std::vector<std::string> headers;  // split at each single space, as Kong
};
HmacParams parse_hmac(std::string_view header);

// What the request looks like to the signing string.
struct SignedRequest {
  const http::HeaderMap* headers;  // request headers (Host as :authority)
  std::string_view method;         // "GET"
  std::string_view target;         // the path with query as the client sent it
  int minor_version = 1;           // HTTP/1.<minor>
};
// Kong's signing string: one line per listed header, "name: value";
// "@request-target" is "<method lower-case> <target>", "request-line" is
// "<METHOD> <target> HTTP/1.x" (each only when no such header was sent);
// a listed header that is absent reads "name:". Lines joined by '\n'.
std::string signing_string(const std::vector<std::string>& names, const SignedRequest& r);

// HMAC of data with secret for Kong's algorithm names (hmac-sha1, -sha256,
// -sha384, -sha512); nullopt for any other name.
std::optional<std::string> hmac(std::string_view algorithm, std::string_view secret, std::string_view data);

// "SHA-256=<base64 of the body's SHA-256>", Kong's expected Digest header.
std::string sha256_digest_header(std::string_view body);

// An HTTP date (RFC 1123, RFC 850 or asctime, as nginx's parser takes
// them) as seconds since the epoch; nullopt when it is not one.
std::optional<int64_t> parse_http_date(std::string_view text);

}  // namespace wg::plugins::auth

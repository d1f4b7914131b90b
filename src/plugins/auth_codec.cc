#include "plugins/auth_codec.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>

#include "http/message.h"
#include "router/regex.h"

namespace wg::plugins::auth {
namespace {

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool pcre_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Kong matches the hmac parameters with this pattern (greedy groups, not
// anchored, case-sensitive but for the scheme's first letter).
const router::Regex& hmac_pattern() {
  static const std::shared_ptr<const router::Regex> kPattern = [] {
    std::string error;
    return router::Regex::compile(
        R"re(\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)")re", false, false,
        &error);
  }();
  return *kPattern;
}

const EVP_MD* hmac_md(std::string_view algorithm) {
  if (algorithm == "hmac-sha1") return EVP_sha1();
  if (algorithm == "hmac-sha256") return EVP_sha256();
  if (algorithm == "hmac-sha384") return EVP_sha384();
  if (algorithm == "hmac-sha512") return EVP_sha512();
  return nullptr;
}

// kong.request.get_header: any case, '_' standing for '-'; Host is the
// map's :authority.
bool find_header(const http::HeaderMap& h, std::string_view name, std::string_view* out) {
  if (name.empty() || name[0] == ':') return false;  // pseudo-headers are no request headers
  const http::HeaderMap::Entry* e = nullptr;
  if (http::iequals(name, "host")) {
    e = h.find(":authority");
  } else if (name.find('_') == std::string_view::npos) {
    e = h.find(name);  // the usual case: no copy
  } else {
    std::string key(name);
    for (char& c : key) c = c == '_' ? '-' : c;
    e = h.find(key);
  }
  if (e == nullptr) return false;
  *out = e->value;
  return true;
}

int month_index(std::string_view m) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) return i;
  }
  return -1;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  size_t len = 0;
  while (len < in.size() && in[len] != '=') {
    if (base64_value(static_cast<unsigned char>(in[len])) < 0) return false;
    ++len;
  }
  if (len % 4 == 1) return false;
  out.clear();
  out.reserve(len * 3 / 4);
  uint32_t bits = 0;
  int have = 0;
  for (size_t i = 0; i < len; ++i) {
    bits = (bits << 6) | static_cast<uint32_t>(base64_value(static_cast<unsigned char>(in[i])));
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<char>((bits >> have) & 0xff));
    }
  }
  return true;
}

std::string encode_base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool parse_basic(std::string_view header, std::string& user, std::string& password) {
  // \s*[Bb]asic\s*(.+): the first "Basic" or "basic" with something after it.
  size_t at = 0;
  std::string_view encoded;
  while ((at = header.find("asic", at)) != std::string_view::npos) {
    if (at > 0 && (header[at - 1] == 'B' || header[at - 1] == 'b')) {
      std::string_view rest = header.substr(at + 4);
      size_t skip = 0;
      while (skip < rest.size() && pcre_space(rest[skip])) ++skip;
      // Only spaces after it: (.+) takes the last one back, which is no base64.
      if (!rest.empty()) encoded = skip == rest.size() ? rest.substr(skip - 1) : rest.substr(skip);
      encoded = encoded.substr(0, encoded.find('\n'));
      if (!encoded.empty()) break;
    }
    at += 4;
  }
  std::string decoded;
  if (encoded.empty() || !decode_base64(encoded, decoded)) return false;
  // ([^:]+):(.*) : the user is the first run without a colon that a colon follows.
  size_t begin = decoded.find_first_not_of(':');
  if (begin == std::string::npos) return false;
  size_t colon = decoded.find(':', begin);
  if (colon == std::string::npos) return false;
  user = decoded.substr(begin, colon - begin);
  std::string_view pass = std::string_view(decoded).substr(colon + 1);
  password = std::string(pass.substr(0, pass.find('\n')));
  return true;
}

HmacParams parse_hmac(std::string_view header) {
  HmacParams p;
  router::Captures caps;
  if (!hmac_pattern().match(header, &caps) || caps.count < 5) return p;
  auto group = [&](int i) { return std::string(header.substr(caps.begin[i], caps.end[i] - caps.begin[i])); };
  p.found = true;
  p.username = group(1);
  p.algorithm = group(2);
  p.signature = group(4);
  std::string_view list = header.substr(caps.begin[3], caps.end[3] - caps.begin[3]);
  while (true) {
    size_t space = list.find(' ');
    p.headers.emplace_back(list.substr(0, space));
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return p;
}

std::string signing_string(const std::vector<std::string>& names, const SignedRequest& r) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    std::string_view value;
    if (find_header(*r.headers, name, &value)) {
      out.append(name).append(": ").append(value);
    } else if (name == "@request-target") {
      out.append(name).append(": ").append(http::to_lower(r.method)).append(" ").append(r.target);
    } else if (name == "request-line") {
      out.append(r.method).append(" ").append(r.target).append(" HTTP/1.").append(std::to_string(r.minor_version));
    } else {
      out.append(name).append(":");
    }
    if (i + 1 < names.size()) out.push_back('\n');
  }
  return out;
}

std::optional<std::string> hmac(std::string_view algorithm, std::string_view secret, std::string_view data) {
  const EVP_MD* md = hmac_md(algorithm);
  if (md == nullptr) return std::nullopt;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(data.data()),
           data.size(), digest, &len) == nullptr) {
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string sha256_digest_header(std::string_view body) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest);
  return "SHA-256=" + encode_base64(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::optional<int64_t> parse_http_date(std::string_view text) {
  // "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"
  std::string s(text);
  char wday[16] = {}, mon[4] = {};
  int day = 0, year = 0, h = 0, m = 0, sec = 0, used = 0;
  const char* p = s.c_str();
  bool ok = false;
  if (std::sscanf(p, "%15[A-Za-z], %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &h, &m, &sec, &used) == 7 &&
      used == static_cast<int>(s.size())) {
    ok = true;
  } else if (std::sscanf(p, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", wday, &day, mon, &year, &h, &m, &sec,
                         &used) == 7 &&
             used == static_cast<int>(s.size())) {
    year += year < 70 ? 2000 : 1900;
    ok = true;
  } else if (std::sscanf(p, "%15[A-Za-z] %3s %2d %2d:%2d:%2d %4d%n", wday, mon, &day, &h, &m, &sec, &year, &used) ==
                 7 &&
             used == static_cast<int>(s.size())) {
    ok = true;
  }
  int month = ok ? month_index(mon) : -1;
  if (month < 0 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 59 || year < 1970) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace wg::plugins::auth

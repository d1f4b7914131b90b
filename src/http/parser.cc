#include "http/parser.h"

#include <cstring>

namespace wg::http {
namespace {

// tchar per RFC 9110 5.6.2.
constexpr bool make_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == static_cast<unsigned char>(t)) return true;
  }
  return false;
}

struct CharTables {
  bool tchar[256];
  bool field_value[256];  // VCHAR, obs-text, SP, HTAB
  bool target[256];       // anything visible but SP, plus obs-text
  constexpr CharTables() : tchar(), field_value(), target() {
    for (int c = 0; c < 256; ++c) {
      tchar[c] = make_tchar(static_cast<unsigned char>(c));
      field_value[c] = (c >= 0x21 && c != 0x7f) || c == ' ' || c == '\t';
      target[c] = c >= 0x21 && c != 0x7f;
    }
  }
};
constexpr CharTables kChars;

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// Compares a header name with a lower-case literal of the same length made
// of letters and '-': OR-ing 0x20 lower-cases letters and leaves '-' alone,
// so eight bytes compare at a time. (Characters that OR to the same byte
// are not in such literals, or are not token characters.)
[[gnu::always_inline]] inline bool eq_name(std::string_view n, std::string_view lit) {
  if (n.size() != lit.size()) return false;
  // Most names differ from a candidate of the same length in the first byte.
  if ((n[0] | 0x20) != lit[0]) return false;
  size_t i = 0;
  for (; i + 8 <= n.size(); i += 8) {
    uint64_t a, b;
    std::memcpy(&a, n.data() + i, 8);
    std::memcpy(&b, lit.data() + i, 8);
    if ((a | 0x2020202020202020ull) != b) return false;
  }
  for (; i < n.size(); ++i) {
    if ((n[i] | 0x20) != lit[i]) return false;
  }
  return true;
}

HeaderId classify(std::string_view n) {
  // Switch on length first so most names cost one comparison at most.
  switch (n.size()) {
    case 2: if (eq_name(n, "te")) return HeaderId::Te; break;
    case 3: if (eq_name(n, "via")) return HeaderId::Via; break;
    case 4: if (eq_name(n, "host")) return HeaderId::Host; break;
    case 6:
      if (eq_name(n, "expect")) return HeaderId::Expect;
      if (eq_name(n, "server")) return HeaderId::Server;
      break;
    case 7:
      if (eq_name(n, "upgrade")) return HeaderId::Upgrade;
      if (eq_name(n, "trailer")) return HeaderId::Trailer;
      if (eq_name(n, "referer")) return HeaderId::Referer;
      break;
    case 9: if (eq_name(n, "x-real-ip")) return HeaderId::XRealIp; break;
    case 10:
      if (eq_name(n, "connection")) return HeaderId::Connection;
      if (eq_name(n, "keep-alive")) return HeaderId::KeepAlive;
      if (eq_name(n, "user-agent")) return HeaderId::UserAgent;
      break;
    case 14: if (eq_name(n, "content-length")) return HeaderId::ContentLength; break;
    case 15:
      if (eq_name(n, "x-forwarded-for")) return HeaderId::XForwardedFor;
      break;
    case 16:
      if (eq_name(n, "x-forwarded-host")) return HeaderId::XForwardedHost;
      if (eq_name(n, "x-forwarded-port")) return HeaderId::XForwardedPort;
      if (eq_name(n, "x-forwarded-path")) return HeaderId::XForwardedPath;
      if (eq_name(n, "proxy-connection")) return HeaderId::ProxyConnection;
      break;
    case 17:
      if (eq_name(n, "transfer-encoding")) return HeaderId::TransferEncoding;
      if (eq_name(n, "x-forwarded-proto")) return HeaderId::XForwardedProto;
      break;
    case 18: if (eq_name(n, "x-forwarded-prefix")) return HeaderId::XForwardedPrefix; break;
    default: break;
  }
  return HeaderId::Other;
}

bool is_hop_by_hop(HeaderId id) {
  switch (id) {
    case HeaderId::Connection:
    case HeaderId::KeepAlive:
    case HeaderId::ProxyConnection:
    case HeaderId::Te:
    case HeaderId::Trailer:
    case HeaderId::TransferEncoding:
    case HeaderId::Upgrade:
      return true;
    default:
      return false;
  }
}

inline std::string_view trim_ows(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls fn(token) for each comma-separated element of a list value.
template <typename Fn>
void for_each_token(std::string_view v, Fn&& fn) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view tok = trim_ows(v.substr(0, comma));
    if (!tok.empty()) fn(tok);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

// Parses "HTTP/1.x"; returns the minor version, -1 for garbage, -2 for a
// well-formed but unsupported version.
int parse_version(std::string_view v) {
  if (v.size() != 8 || v.compare(0, 5, "HTTP/") != 0 || v[6] != '.') return -1;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return -1;
  if (v[5] != '1') return -2;
  return v[7] - '0';
}

bool parse_content_length(std::string_view v, uint64_t* out) {
  if (v.empty() || v.size() > 18) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

}  // namespace

HeaderId classify_header(std::string_view name) { return classify(name); }

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [v6]:port
    size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

void append_lower(std::string& out, std::string_view s) {
  for (char c : s) out.push_back(lower(c));
}

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_lower(out, s);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

ParseStatus HeadParser::find_end(const char* buf, size_t len, size_t max_head, bool is_request,
                                 size_t* end) {
  size_t i = scanned_;
  while (i < len) {
    const void* nl = std::memchr(buf + i, '\n', len - i);
    if (nl == nullptr) break;
    size_t pos = static_cast<const char*>(nl) - buf;
    if (pos == 0 || buf[pos - 1] != '\r') return fail(400, "bare LF");
    size_t line_len = pos - 1 - line_start_;
    if (line_len == 0) {
      if (lines_ == 0) {
        // RFC 9112 2.2: ignore empty lines before a request line.
        if (!is_request || ++skipped_ > 4) return fail(400, "empty line before start line");
      } else {
        *end = pos + 1;
        scanned_ = *end;
        if (*end - skipped_ * 2 > max_head) return fail(431, "head too large");
        return ParseStatus::Complete;
      }
    } else {
      ++lines_;
    }
    line_start_ = pos + 1;
    i = pos + 1;
  }
  scanned_ = len;
  if (len - skipped_ * 2 > max_head) return fail(431, "head too large");
  return ParseStatus::Incomplete;
}

bool HeadParser::parse_headers(const char* p, const char* end, Head& out) {
  // p is at the start of the first header line; end is at the final CRLF.
  int content_lengths = 0;
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\r', end - p));
    if (eol == nullptr) eol = end;
    if (eol != end && eol[1] != '\n') {
      error_reason_ = "bare CR";  // a CR that does not end a line splits it for some parsers
      return false;
    }
    if (*p == ' ' || *p == '\t') {
      error_reason_ = "obs-fold";
      return false;
    }
    const char* colon = p;
    while (colon < eol && kChars.tchar[static_cast<unsigned char>(*colon)]) ++colon;
    if (colon == p || colon == eol || *colon != ':') {
      error_reason_ = "malformed header name";
      return false;
    }
    for (const char* v = colon + 1; v < eol; ++v) {
      if (!kChars.field_value[static_cast<unsigned char>(*v)]) {
        error_reason_ = "invalid character in header value";
        return false;
      }
    }
    if (out.num_headers == kMaxHeaders) {
      error_status_ = 431;
      error_reason_ = "too many headers";
      return false;
    }
    Header& h = out.headers[out.num_headers++];
    h.name = std::string_view(p, colon - p);
    h.value = trim_ows(std::string_view(colon + 1, eol - colon - 1));
    h.id = classify(h.name);
    h.hop_by_hop = is_hop_by_hop(h.id);
    switch (h.id) {
      case HeaderId::ContentLength: {
        // Every value, on every Content-Length line, must be the same number
        // (a list of identical values is allowed, RFC 9110 8.6).
        bool ok = true;
        int here = 0;
        for_each_token(h.value, [&](std::string_view tok) {
          uint64_t v = 0;
          if (!parse_content_length(tok, &v) || (content_lengths > 0 && v != out.content_length)) ok = false;
          out.content_length = v;
          ++content_lengths;
          ++here;
        });
        if (!ok || here == 0) {
          error_reason_ = "invalid or conflicting Content-Length";
          return false;
        }
        break;
      }
      case HeaderId::Host:
        // Two Hosts on a request could route differently here and upstream.
        if (out.status == 0 && out.host.data() != nullptr) {
          error_reason_ = "duplicate Host";
          return false;
        }
        out.host = h.value;
        if (out.host.data() == nullptr) out.host = std::string_view(colon + 1, 0);
        break;
      case HeaderId::Upgrade:
        // The first one, as Kong reads it (a WebSocket upgrade is decided on it).
        if (out.upgrade.data() == nullptr) out.upgrade = h.value;
        break;
      default:
        break;
    }
    p = eol + 2;
  }
  if (content_lengths > 0) out.body = BodyKind::Length;
  return true;
}

// Applies Connection, Transfer-Encoding and Expect once all headers are known.
static bool apply_framing_headers(Head& out, const char** reason, int* status) {
  bool te_seen = false;
  bool chunked_last = false;
  bool te_other = false;
  for (size_t i = 0; i < out.num_headers; ++i) {
    Header& h = out.headers[i];
    if (h.id == HeaderId::TransferEncoding) {
      te_seen = true;
      for_each_token(h.value, [&](std::string_view tok) {
        if (iequals(tok, "chunked")) {
          if (chunked_last) te_other = true;  // chunked twice
          chunked_last = true;
        } else {
          chunked_last = false;
          te_other = true;
        }
      });
    } else if (h.id == HeaderId::Connection) {
      for_each_token(h.value, [&](std::string_view tok) {
        if (iequals(tok, "close")) {
          out.keep_alive = false;
        } else if (iequals(tok, "keep-alive")) {
          if (out.minor_version == 0) out.keep_alive = true;
        } else {
          if (iequals(tok, "upgrade")) out.has_upgrade = true;
          // Headers named in Connection are hop-by-hop (RFC 9110 7.6.1).
          for (size_t j = 0; j < out.num_headers; ++j) {
            if (iequals(out.headers[j].name, tok)) out.headers[j].hop_by_hop = true;
          }
        }
      });
    } else if (h.id == HeaderId::Expect) {
      if (iequals(h.value, "100-continue")) out.expect_continue = true;
    }
  }
  if (te_seen) {
    if (out.body == BodyKind::Length) {
      *reason = "both Content-Length and Transfer-Encoding";
      *status = 400;
      return false;
    }
    if (out.minor_version == 0) {
      *reason = "Transfer-Encoding in HTTP/1.0";
      *status = 400;
      return false;
    }
    if (te_other || !chunked_last) {
      *reason = "unsupported Transfer-Encoding";
      *status = 501;
      return false;
    }
    out.body = BodyKind::Chunked;
  }
  return true;
}

bool HeadParser::finish_request(Head& out) {
  const char* reason = nullptr;
  int status = 400;
  // HTTP/1.0 closes unless the client asks for keep-alive.
  if (out.minor_version == 0) out.keep_alive = false;
  if (!apply_framing_headers(out, &reason, &status)) {
    error_status_ = status;
    error_reason_ = reason;
    return false;
  }
  if (out.minor_version >= 1 && out.host.empty() && require_host_) {
    error_reason_ = "missing Host";
    return false;
  }
  return true;
}

bool HeadParser::finish_response(Head& out) {
  const char* reason = nullptr;
  int status = 502;
  if (out.minor_version == 0) out.keep_alive = false;
  if (!apply_framing_headers(out, &reason, &status)) {
    error_status_ = 502;
    error_reason_ = reason;
    return false;
  }
  bool no_body = (out.status >= 100 && out.status < 200) || out.status == 204 || out.status == 304;
  if (no_body) {
    out.body = BodyKind::None;
  } else if (out.body == BodyKind::None) {
    out.body = BodyKind::UntilClose;
    out.keep_alive = false;
  } else if (out.body == BodyKind::Length && out.content_length == 0) {
    out.body = BodyKind::None;
  }
  return true;
}

ParseStatus HeadParser::parse_request(const char* buf, size_t len, size_t max_head, Head& out) {
  size_t end = 0;
  ParseStatus st = find_end(buf, len, max_head, true, &end);
  if (st != ParseStatus::Complete) return st;
  out.reset();
  out.head_len = end;
  error_status_ = 400;
  const char* p = buf + skipped_ * 2;
  const char* head_end = buf + end - 2;  // at the blank line's CR
  const char* eol = static_cast<const char*>(std::memchr(p, '\r', head_end - p + 1));
  if (eol[1] != '\n') return fail(400, "bare CR");

  // method SP request-target SP HTTP-version
  const char* sp1 = p;
  while (sp1 < eol && kChars.tchar[static_cast<unsigned char>(*sp1)]) ++sp1;
  if (sp1 == p || sp1 == eol || *sp1 != ' ') return fail(400, "malformed method");
  const char* t = sp1 + 1;
  const char* sp2 = t;
  while (sp2 < eol && kChars.target[static_cast<unsigned char>(*sp2)]) ++sp2;
  if (sp2 == t || sp2 == eol || *sp2 != ' ') return fail(400, "malformed request target");
  int minor = parse_version(std::string_view(sp2 + 1, eol - sp2 - 1));
  if (minor == -2) return fail(505, "unsupported HTTP version");
  if (minor < 0) return fail(400, "malformed HTTP version");
  out.minor_version = minor;
  out.method = std::string_view(p, sp1 - p);
  out.target = std::string_view(t, sp2 - t);

  std::string_view target = out.target;
  if (target.front() != '/') {
    // absolute-form (RFC 9112 3.2.2): the authority replaces Host.
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://")) {
      target.remove_prefix(7);
    } else if (target.size() > 8 && iequals(target.substr(0, 8), "https://")) {
      target.remove_prefix(8);
    } else if (target == "*" && out.method == "OPTIONS") {
      target = "*";
    } else {
      return fail(400, "malformed request target");
    }
    if (target != "*") {
      size_t slash = target.find_first_of("/?");
      std::string_view authority = target.substr(0, slash);
      if (authority.empty()) return fail(400, "empty authority");
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.front() == '?') return fail(400, "malformed request target");
      if (!parse_headers(eol + 2, head_end, out)) return fail(error_status_, error_reason_);
      out.host = authority;
      if (!finish_request(out)) return ParseStatus::Error;
      size_t q = target.find('?');
      out.path = target.substr(0, q);
      out.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
      return ParseStatus::Complete;
    }
  }
  size_t q = target.find('?');
  out.path = target.substr(0, q);
  out.query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  if (!parse_headers(eol + 2, head_end, out)) return fail(error_status_, error_reason_);
  if (!finish_request(out)) return ParseStatus::Error;
  return ParseStatus::Complete;
}

ParseStatus HeadParser::parse_response(const char* buf, size_t len, size_t max_head, Head& out) {
  size_t end = 0;
  ParseStatus st = find_end(buf, len, max_head, false, &end);
  if (st != ParseStatus::Complete) {
    if (st == ParseStatus::Error) error_status_ = 502;
    return st;
  }
  out.reset();
  out.head_len = end;
  const char* p = buf;
  const char* head_end = buf + end - 2;
  const char* eol = static_cast<const char*>(std::memchr(p, '\r', head_end - p + 1));
  if (eol[1] != '\n') return fail(502, "bare CR");
  std::string_view line(p, eol - p);
  // HTTP-version SP 3DIGIT SP reason; some servers omit the reason and its SP.
  if (line.size() < 12 || line[8] != ' ') return fail(502, "malformed status line");
  int minor = parse_version(line.substr(0, 8));
  if (minor < 0) return fail(502, "malformed status line");
  out.minor_version = minor;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail(502, "malformed status code");
    code = code * 10 + (line[i] - '0');
  }
  if (code < 100) return fail(502, "malformed status code");
  if (line.size() > 12 && line[12] != ' ') return fail(502, "malformed status line");
  out.status = code;
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view();
  error_status_ = 502;
  if (!parse_headers(eol + 2, head_end, out)) return fail(502, error_reason_);
  if (!finish_response(out)) return ParseStatus::Error;
  return ParseStatus::Complete;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  // Names are short and almost always valid: AND four lookups at a time
  // rather than branch on each byte.
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  bool ok = true;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ok &= kChars.tchar[p[i]] & kChars.tchar[p[i + 1]] & kChars.tchar[p[i + 2]] & kChars.tchar[p[i + 3]];
  }
  for (; i < n; ++i) ok &= kChars.tchar[p[i]];
  return ok;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace wg::http

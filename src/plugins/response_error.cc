// kong.response.error for the native plugins: Kong picks the error body's
// format from the request's Accept header (kong/tools/http.lua
// get_response_type) and fills one of its built-in templates with the
// message and the request id. Only error answers pay for this; the
// templates and the Accept pattern are built once.
#include <array>
#include <cstdlib>
#include <random>

#include "plugins/plugin.h"
#include "router/regex.h"

namespace wg::plugins {
namespace {

// One of Kong's error templates: the message and the request id go
// between the three fixed parts.
struct Template {
  std::string_view content_type;  // empty: no body, no Content-Type (gRPC)
  std::string_view before, between, after;
};

constexpr Template kJson{"application/json; charset=utf-8", "{\n  \"message\":\"", "\",\n  \"request_id\":\"",
                         "\"\n}"};
constexpr Template kHtml{"text/html; charset=utf-8",
                         "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n"
                         "  </head>\n  <body>\n    <h1>Error</h1>\n    <p>",
                         ".</p>\n    <p>request_id: ", "</p>\n  </body>\n</html>\n"};
constexpr Template kXml{"application/xml; charset=utf-8",
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>",
                        "</message>\n  <requestid>", "</requestid>\n</error>\n"};
constexpr Template kPlain{"text/plain; charset=utf-8", "", "\nrequest_id: ", "\n"};
constexpr Template kGrpc{"", "", "", ""};

// Kong's MIME table, by media type or (for "type/*") by type alone; what
// it lacks gets the default, JSON. Kong compares case-sensitively.
const Template& template_for(std::string_view media) {
  size_t slash = media.find('/');
  std::string_view type = media.substr(0, slash), sub = media.substr(slash + 1);
  if (sub == "*") {
    if (type == "text") return kPlain;
    return kJson;  // "*/*", "application/*" and any other type
  }
  if (media == "text/html") return kHtml;
  if (media == "application/xml") return kXml;
  if (media == "text/plain") return kPlain;
  if (media == "application/grpc") return kGrpc;
  return kJson;
}

// One Accept element: a media range and its quality, as Kong's pattern
// reads it (anchored, case-insensitive, the rest of the element ignored).
const router::Regex& accept_pattern() {
  static const std::shared_ptr<const router::Regex> re = [] {
    std::string error;
    return router::Regex::compile(
        R"(((?:[a-z0-9][a-z0-9-!#$&^_+.]+|\*)/(?:[a-z0-9][a-z0-9-!#$&^_+.]+|\*)))"
        R"((?:\s*;\s*q=(1(?:\.0{0,3}|)|0(?:\.\d{0,3}|))|\s*;\s*[a-z0-9][a-z0-9-!#$&^_+.]+(?:=[^;]*|))*)",
        /*anchored=*/true, /*caseless=*/true, &error);
  }();
  return *re;
}

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// One Accept value's elements, in order, against the best so far (Kong's
// get_response_type: the element of highest quality wins, the first of
// equals; q=0 never does).
const Template* pick(std::string_view rest, double* best, const Template* chosen) {
  while (true) {
    size_t comma = rest.find(',');
    std::string_view element = strip(rest.substr(0, comma));
    router::Captures caps;
    if (accept_pattern().match(element, &caps)) {
      double q = 1;
      if (caps.count > 2 && caps.begin[2] != caps.end[2]) {
        q = std::strtod(std::string(element.substr(caps.begin[2], caps.end[2] - caps.begin[2])).c_str(), nullptr);
      }
      if (q > *best) {
        *best = q;
        chosen = &template_for(element.substr(caps.begin[1], caps.end[1] - caps.begin[1]));
      }
    }
    if (comma == std::string_view::npos) return chosen;
    rest.remove_prefix(comma + 1);
  }
}

// The template for every `name` line of the request read as one Accept
// value (Kong joins repeated lines with commas); JSON when there is none.
const Template& response_template(const pipeline::Exchange& x, std::string_view name) {
  const Template* chosen = &kJson;
  double best = 0;
  // A deferred head too (key-auth's answer in access).
  x.request_headers.any_field([&](const http::Header& h) {
    if (http::iequals(h.name, name)) chosen = pick(h.value, &best, chosen);
    return false;
  });
  return *chosen;
}

// Kong's phrase for an error status given no message (kong/pdk/response.lua).
std::string_view default_message(int status) {
  switch (status) {
    case 400: return "Bad request";
    case 401: return "Unauthorized";
    case 402: return "Payment required";
    case 403: return "Forbidden";
    case 404: return "Not found";
    case 405: return "Method not allowed";
    case 406: return "Not acceptable";
    case 407: return "Proxy authentication required";
    case 408: return "Request timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length required";
    case 412: return "Precondition failed";
    case 413: return "Payload too large";
    case 414: return "URI too long";
    case 415: return "Unsupported media type";
    case 416: return "Range not satisfiable";
    case 417: return "Expectation failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected request";
    case 422: return "Unprocessable entity";
    case 423: return "Locked";
    case 424: return "Failed dependency";
    case 425: return "Too early";
    case 426: return "Upgrade required";
    case 428: return "Precondition required";
    case 429: return "Too many requests";
    case 431: return "Request header fields too large";
    case 451: return "Unavailable for legal reasons";
    case 494: return "Request header or cookie too large";
    case 500: return "An unexpected error occurred";
    case 501: return "Not implemented";
    case 502: return "An invalid response was received from the upstream server";
    case 503: return "The upstream server is currently unavailable";
    case 504: return "The upstream server is timing out";
    case 505: return "HTTP version not supported";
    case 506: return "Variant also negotiates";
    case 507: return "Insufficient storage";
    case 508: return "Loop detected";
    case 510: return "Not extended";
    case 511: return "Network authentication required";
    default: return {};
  }
}

// splitmix64's finalizer: a bijection, so distinct serials give distinct ids.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void append_hex(std::string& out, uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xf]);
}

}  // namespace

std::string request_id(const pipeline::Exchange& x) {
  // Serials count per worker thread: the seeds keep workers (and restarts)
  // apart.
  thread_local const std::array<uint64_t, 2> seeds = [] {
    std::random_device rd;
    return std::array<uint64_t, 2>{(uint64_t{rd()} << 32) | rd(), (uint64_t{rd()} << 32) | rd()};
  }();
  std::string id;
  id.reserve(32);
  append_hex(id, mix(seeds[0] ^ x.serial));
  append_hex(id, mix(seeds[1] + x.serial));
  return id;
}

pipeline::Verdict exit_error(pipeline::Exchange& x, int status, std::string_view message, http::HeaderList headers) {
  const Template& t = response_template(x, "accept");
  std::string id = request_id(x);
  std::string body;
  if (!t.content_type.empty()) {
    std::string fallback;
    if (message.empty()) {
      message = default_message(status);
      if (message.empty()) message = fallback = "The upstream server responded with " + std::to_string(status);
    }
    // As Kong's template formatting: the message goes in as is, unescaped.
    body.reserve(t.before.size() + message.size() + t.between.size() + id.size() + t.after.size());
    body.append(t.before).append(message).append(t.between).append(id).append(t.after);
    headers.emplace_back("Content-Type", std::string(t.content_type));
  }
  headers.emplace_back("X-Kong-Request-Id", std::move(id));
  return exit_with(x, status, std::move(body), std::move(headers));
}

}  // namespace wg::plugins

// HTTP/1.x message heads as parsed views into the connection's read buffer.
// Every string_view points into the bytes that were parsed, so a head is
// only valid while those bytes stay in place; a head owns only the slots
// its headers are parsed into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wg::http {

// Headers the proxy must recognise; everything else is HeaderId::Other.
enum class HeaderId : uint8_t {
  Other,
  Host,
  ContentLength,
  TransferEncoding,
  Connection,
  KeepAlive,
  ProxyConnection,
  Te,
  Trailer,
  Upgrade,
  Expect,
  XForwardedFor,
  XForwardedProto,
  XForwardedHost,
  XForwardedPort,
  XForwardedPath,
  XForwardedPrefix,
  XRealIp,
  UserAgent,
  Referer,
  Via,
  Server,
};

struct Header {
  std::string_view name;
  std::string_view value;
  HeaderId id = HeaderId::Other;
  bool hop_by_hop = false;  // named in Connection, or hop-by-hop by RFC 9110
  // "name: value\r\n" lies contiguous from name.data() (a line a handler
  // added whole, HeaderMap::add_line / push_line): a head writer copies it
  // in one piece. The parser leaves it false.
  bool wire_line = false;
};

inline constexpr size_t kMaxHeaders = 128;
inline constexpr size_t kMaxConnectionTokens = 8;

// How a message body is delimited (RFC 9112 section 6.3).
enum class BodyKind : uint8_t { None, Length, Chunked, UntilClose };

// The header slots of a head (kMaxHeaders of them, 5 KiB), kept apart from
// the head so a connection can give them back while it is idle.
using HeaderSlots = std::unique_ptr<Header[]>;
inline HeaderSlots make_header_slots(size_t heads = 1) { return std::make_unique<Header[]>(kMaxHeaders * heads); }

struct Head {
  // A head owns its header slots; one made with Head(Head::kBorrowed) has
  // none until lent some (a session borrows them from its worker's pool
  // for each exchange).
  struct Borrowed {};
  static constexpr Borrowed kBorrowed{};
  Head() : slots_(make_header_slots()), headers(slots_.get()) {}
  explicit Head(Borrowed) {}
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;
  bool has_slots() const { return headers != nullptr; }
  void lend(Header* slots) { headers = slots; }  // kMaxHeaders of them
  void unlend() { headers = nullptr; }

 private:
  HeaderSlots slots_;

 public:
  // Request line (requests only).
  std::string_view method;
  std::string_view target;  // as sent
  std::string_view path;    // target up to '?', origin-form
  std::string_view query;   // after '?', without it; empty when absent
  // Status line (responses only).
  int status = 0;
  std::string_view reason;

  int minor_version = 1;  // HTTP/1.<minor>
  Header* headers = nullptr;  // kMaxHeaders slots
  size_t num_headers = 0;
  size_t head_len = 0;  // bytes from the start of the head to after its blank line

  // Derived while parsing.
  BodyKind body = BodyKind::None;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  bool has_upgrade = false;
  std::string_view upgrade;  // the first Upgrade header's value
  std::string_view host;  // Host header, or authority of an absolute-form target

  void reset() {
    num_headers = 0;
    head_len = 0;
    body = BodyKind::None;
    content_length = 0;
    keep_alive = true;
    expect_continue = false;
    has_upgrade = false;
    upgrade = {};
    host = {};
    status = 0;
  }
};

// The id of a header name (HeaderId::Other for names the proxy does not
// treat specially).
HeaderId classify_header(std::string_view name);

// "host:port" -> "host" ("[v6]:port" -> "[v6]"); unchanged without a port.
std::string_view host_without_port(std::string_view host);

// Appends s lower-cased (ASCII), e.g. a host name.
void append_lower(std::string& out, std::string_view s);
// s lower-cased (ASCII).
std::string to_lower(std::string_view s);

// Whether s is a non-empty RFC 9110 token (a field name).
bool is_token(std::string_view s);

// Case-insensitive ASCII comparison, for header names and tokens.
bool iequals(std::string_view a, std::string_view b);

// Reason phrase for a status code ("OK", "Not Found", ...).
std::string_view reason_phrase(int status);

}  // namespace wg::http

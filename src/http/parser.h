// Strict HTTP/1.x head parser (RFC 9112). Zero-copy: fills a Head with views
// into the caller's buffer. Incremental: call again with more bytes; already
// scanned bytes are not scanned twice while looking for the end of the head.
//
// Strictness is deliberate: anything a peer could read differently from us
// (bare LF, obs-fold, Content-Length with Transfer-Encoding, differing
// Content-Lengths, whitespace before a colon) is an error, never a guess.
#pragma once

#include <cstddef>

#include "http/message.h"

namespace wg::http {

enum class ParseStatus { Complete, Incomplete, Error };

class HeadParser {
 public:
  // Parses a request head from buf[0, len). On Error, error_status() is the
  // HTTP status to answer with (400, 431, 501 or 505).
  ParseStatus parse_request(const char* buf, size_t len, size_t max_head, Head& out);
  // Parses a response head. Errors mean the upstream is broken (502).
  ParseStatus parse_response(const char* buf, size_t len, size_t max_head, Head& out);

  // HTTP/1.1 requests without Host are refused (RFC 9112 3.2) unless this
  // is turned off (the admin listener answers them, as it always has).
  void set_require_host(bool require) { require_host_ = require; }

  int error_status() const { return error_status_; }
  const char* error_reason() const { return error_reason_; }
  // Forget progress; call before parsing a new message.
  void reset() { scanned_ = line_start_ = lines_ = 0; skipped_ = 0; }

 private:
  ParseStatus find_end(const char* buf, size_t len, size_t max_head, bool is_request, size_t* end);
  bool parse_headers(const char* p, const char* end, Head& out);
  bool finish_request(Head& out);
  bool finish_response(Head& out);
  ParseStatus fail(int status, const char* reason) {
    error_status_ = status;
    error_reason_ = reason;
    return ParseStatus::Error;
  }

  size_t scanned_ = 0;     // bytes already searched for the end of the head
  size_t line_start_ = 0;  // start of the line being scanned
  size_t lines_ = 0;       // non-empty lines seen
  size_t skipped_ = 0;     // leading empty lines skipped before a request line
  int error_status_ = 400;
  const char* error_reason_ = "";
  bool require_host_ = true;
};

}  // namespace wg::http

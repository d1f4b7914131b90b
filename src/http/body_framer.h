// Where a body ends inside a stream of bytes (Content-Length, chunked, or
// until the connection closes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "http/chunked.h"
#include "http/message.h"

namespace wg::http {

// Tracks where a body ends inside a stream of bytes.
struct BodyFramer {
  BodyKind kind = BodyKind::None;
  uint64_t remaining = 0;  // for Length
  ChunkedScanner chunked;
  bool done = true;

  void start(BodyKind k, uint64_t length);
  // Claims body bytes from data[0, len): returns how many belong to the body.
  // Sets *error on framing errors; done becomes true at the end of the body.
  size_t claim(const char* data, size_t len, bool* error);
  // The same, appending the body's payload (de-chunked) to *payload and,
  // when trailers is not null, a chunked body's trailer section to
  // *trailers (field lines, each ended by '\n').
  size_t claim_decoded(const char* data, size_t len, bool* error, std::string* payload,
                       std::string* trailers = nullptr);
};

}  // namespace wg::http

#include "http/body_framer.h"

namespace wg::http {

void BodyFramer::start(http::BodyKind k, uint64_t length) {
  kind = k;
  remaining = length;
  chunked.reset();
  done = k == http::BodyKind::None || (k == http::BodyKind::Length && length == 0);
}

size_t BodyFramer::claim(const char* data, size_t len, bool* error) {
  if (done || len == 0) return 0;
  switch (kind) {
    case http::BodyKind::Length: {
      size_t n = len < remaining ? len : static_cast<size_t>(remaining);
      remaining -= n;
      if (remaining == 0) done = true;
      return n;
    }
    case http::BodyKind::Chunked: {
      size_t n = 0;
      auto r = chunked.scan(data, len, &n);
      if (r == http::ChunkedScanner::Result::Error) {
        *error = true;
        return 0;
      }
      if (r == http::ChunkedScanner::Result::Done) done = true;
      return n;
    }
    case http::BodyKind::UntilClose:
      return len;  // ends when the upstream closes
    case http::BodyKind::None:
      break;
  }
  return 0;
}

size_t BodyFramer::claim_decoded(const char* data, size_t len, bool* error, std::string* payload,
                                 std::string* trailers) {
  if (kind != http::BodyKind::Chunked) {
    size_t n = claim(data, len, error);
    payload->append(data, n);
    return n;
  }
  if (done || len == 0) return 0;
  size_t n = 0;
  auto r = chunked.scan(
      data, len, &n, [payload](const char* p, size_t k) { payload->append(p, k); },
      [trailers](const char* p, size_t k) {
        if (trailers != nullptr) trailers->append(p, k);
      });
  if (r == http::ChunkedScanner::Result::Error) {
    *error = true;
    return 0;
  }
  if (r == http::ChunkedScanner::Result::Done) done = true;
  return n;
}

}  // namespace wg::http

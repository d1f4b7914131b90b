// ChunkedScanner: whole buffer, byte by byte and split in two must agree on
// the result, the bytes consumed and the payload delivered.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "http/chunked.h"

using wg::http::ChunkedScanner;
using Result = ChunkedScanner::Result;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

struct Outcome {
  Result result = Result::NeedMore;
  size_t consumed = 0;
  std::string payload;
  uint64_t payload_bytes = 0;
};

// Feeds data in pieces of at most `step` bytes (step 0: one call).
Outcome run(const char* data, size_t size, size_t step, size_t split) {
  ChunkedScanner s;
  Outcome o;
  auto feed = [&](const char* p, size_t len) -> bool {
    size_t n = 12345;
    o.result = s.scan(p, len, &n, [&](const char* d, size_t l) {
      check(d >= p && d + l <= p + len);
      o.payload.append(d, l);
    });
    if (o.result == Result::Error) return false;
    check(n <= len);
    o.consumed += n;
    if (o.result == Result::Done) return false;
    check(n == len);  // NeedMore claims everything
    return true;
  };
  if (split != SIZE_MAX) {
    if (feed(data, split)) feed(data + split, size - split);
  } else if (step == 0) {
    feed(data, size);
  } else {
    for (size_t i = 0; i < size; i += step) {
      if (!feed(data + i, std::min(step, size - i))) break;
    }
  }
  o.payload_bytes = s.payload_bytes();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) memcpy(buf.get(), data, size);
  const char* d = buf.get();
  Outcome whole = run(d, size, 0, SIZE_MAX);
  Outcome bytes = run(d, size, 1, SIZE_MAX);
  size_t split = size ? (static_cast<size_t>(data[0]) * size) / 256 : 0;
  Outcome two = run(d, size, 0, split);
  for (const Outcome* o : {&bytes, &two}) {
    check(o->result == whole.result);
    if (whole.result != Result::Error) {
      check(o->consumed == whole.consumed);
      check(o->payload == whole.payload);
    }
  }
  if (whole.result == Result::NeedMore) check(whole.consumed == size);
  if (whole.result == Result::Done) {
    check(whole.consumed <= size);
    // The body ends with CRLF CRLF (last chunk / trailers, then the blank line).
    check(whole.consumed >= 5);
    check(memcmp(d + whole.consumed - 2, "\r\n", 2) == 0);
  }
  check(whole.payload_bytes == whole.payload.size());
  return 0;
}

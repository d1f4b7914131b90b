// HeadParser::parse_request on arbitrary bytes: parsed whole, and split in
// two at a point derived from the first byte (incremental parsing must
// agree with whole parsing). Complete heads must satisfy the invariants the
// proxy relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "http/parser.h"

using namespace wg::http;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

bool inside(std::string_view v, const char* buf, size_t len) {
  if (v.empty()) return true;
  return v.data() >= buf && v.data() + v.size() <= buf + len;
}

void check_head(const Head& h, const char* buf, size_t len) {
  check(h.head_len <= len);
  check(h.head_len >= 4);
  check(h.num_headers <= kMaxHeaders);
  check(inside(h.method, buf, h.head_len));
  check(!h.method.empty());
  check(inside(h.target, buf, h.head_len));
  check(!h.target.empty());
  for (size_t i = 0; i < h.num_headers; ++i) {
    const Header& x = h.headers[i];
    check(!x.name.empty());
    check(inside(x.name, buf, h.head_len));
    check(inside(x.value, buf, h.head_len));
    for (char c : x.value) check(c != '\r' && c != '\n' && c != '\0');
    if (!x.value.empty()) {
      check(x.value.front() != ' ' && x.value.front() != '\t');
      check(x.value.back() != ' ' && x.value.back() != '\t');
    }
  }
  check(h.minor_version == 0 || h.minor_version >= 1);
  if (h.minor_version >= 1) check(!h.host.empty());
  check(h.body != BodyKind::UntilClose);  // requests never read until close
  if (h.body == BodyKind::Chunked) check(h.minor_version >= 1);
  bool has_cl = false, has_te = false;
  for (size_t i = 0; i < h.num_headers; ++i) {
    has_cl |= h.headers[i].id == HeaderId::ContentLength;
    has_te |= h.headers[i].id == HeaderId::TransferEncoding;
  }
  check(!(has_cl && has_te));
  if (has_te) check(h.body == BodyKind::Chunked);
  if (has_cl) check(h.body == BodyKind::Length);
  if (h.body == BodyKind::None) check(h.content_length == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy, so reads past the end are caught.
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) memcpy(buf.get(), data, size);
  const size_t max_head = 4096;

  auto whole = std::make_unique<Head>();
  HeadParser p1;
  ParseStatus st1 = p1.parse_request(buf.get(), size, max_head, *whole);
  if (st1 == ParseStatus::Complete) check_head(*whole, buf.get(), size);
  if (st1 == ParseStatus::Error) {
    int s = p1.error_status();
    check(s == 400 || s == 431 || s == 501 || s == 505);
  }

  size_t split = size ? (static_cast<size_t>(data[0]) * size) / 256 : 0;
  auto inc = std::make_unique<Head>();
  HeadParser p2;
  ParseStatus st2 = p2.parse_request(buf.get(), split, max_head, *inc);
  if (st2 == ParseStatus::Incomplete) st2 = p2.parse_request(buf.get(), size, max_head, *inc);
  check(st1 == st2);
  if (st1 == ParseStatus::Complete) {
    check_head(*inc, buf.get(), size);
    check(inc->head_len == whole->head_len);
    check(inc->num_headers == whole->num_headers);
    check(inc->body == whole->body);
    check(inc->content_length == whole->content_length);
    check(inc->keep_alive == whole->keep_alive);
    check(inc->host == whole->host);
    check(inc->path == whole->path);
  }
  return 0;
}

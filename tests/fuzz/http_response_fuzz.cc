// HeadParser::parse_response on arbitrary bytes, whole and split in two.
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
  check(h.num_headers <= kMaxHeaders);
  check(h.status >= 100 && h.status <= 999);
  check(inside(h.reason, buf, h.head_len));
  for (size_t i = 0; i < h.num_headers; ++i) {
    check(!h.headers[i].name.empty());
    check(inside(h.headers[i].name, buf, h.head_len));
    check(inside(h.headers[i].value, buf, h.head_len));
  }
  bool no_body = h.status < 200 || h.status == 204 || h.status == 304;
  if (no_body) check(h.body == BodyKind::None);
  if (h.body == BodyKind::UntilClose) check(!h.keep_alive);
  if (h.body == BodyKind::Length) check(h.content_length > 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> buf(new char[size ? size : 1]);
  if (size) memcpy(buf.get(), data, size);
  const size_t max_head = 4096;

  auto whole = std::make_unique<Head>();
  HeadParser p1;
  ParseStatus st1 = p1.parse_response(buf.get(), size, max_head, *whole);
  if (st1 == ParseStatus::Complete) check_head(*whole, buf.get(), size);
  if (st1 == ParseStatus::Error) check(p1.error_status() == 502);

  size_t split = size ? (static_cast<size_t>(data[0]) * size) / 256 : 0;
  auto inc = std::make_unique<Head>();
  HeadParser p2;
  ParseStatus st2 = p2.parse_response(buf.get(), split, max_head, *inc);
  if (st2 == ParseStatus::Incomplete) st2 = p2.parse_response(buf.get(), size, max_head, *inc);
  check(st1 == st2);
  if (st1 == ParseStatus::Complete) {
    check_head(*inc, buf.get(), size);
    check(inc->head_len == whole->head_len);
    check(inc->status == whole->status);
    check(inc->body == whole->body);
    check(inc->content_length == whole->content_length);
    check(inc->keep_alive == whole->keep_alive);
  }
  return 0;
}

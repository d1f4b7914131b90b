// The HTTP/2 client session (src/client/h2_session) and gRPC message
// framing fed arbitrary server bytes: two gRPC-shaped streams are open
// (one half-closed, one still sending), the input arrives in pieces of
// varying size, and the client's own output is drained between them.
// Checks that a sink hears nothing after its close, and that what the
// message reader keeps stays within its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/grpc_wire.h"
#include "client/h2_session.h"

namespace {

using wg::client::Fields;
using wg::client::H2Session;
namespace grpc = wg::client::grpc;

void check(bool ok) {
  if (!ok) abort();
}

constexpr size_t kMaxMessage = 1u << 16;

struct Sink final : wg::client::H2Sink {
  grpc::MessageReader reader{kMaxMessage};
  std::vector<std::string> messages;
  bool closed = false, broken = false;
  void on_headers(Fields& fields, bool) override {
    check(!closed);
    uint32_t code = 0;
    std::string message;
    grpc::parse_status(fields, &code, &message);
  }
  void on_data(std::string_view data) override {
    check(!closed);
    if (broken) return;
    messages.clear();
    broken = reader.feed(data, &messages) != grpc::MessageReader::Result::Ok;
    check(reader.pending() <= kMaxMessage + 5);
    for (const auto& m : messages) check(m.size() <= kMaxMessage);
  }
  void on_close(uint32_t, bool) override {
    check(!closed);
    closed = true;
  }
};

const Fields kRequest = {{":method", "POST"}, {":scheme", "http"}, {":path", "/test.Echo/Chat"},
                         {":authority", "fuzz"}, {"content-type", "application/grpc"}, {"te", "trailers"}};

void drain(H2Session& s) {
  for (int i = 0; i < 8; ++i) {
    std::string_view out = s.output();
    if (out.empty()) return;
    s.wrote(out.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  H2Session s;
  Sink unary, stream;
  const int32_t a = s.open(kRequest, &unary);
  std::string framed;
  grpc::append_message(framed, "ping");
  s.send(a, framed, true);
  const int32_t b = s.open(kRequest, &stream);
  s.send(b, framed, false);
  drain(s);
  // Piece sizes come from the input itself (its first byte), so the
  // fuzzer explores splits inside frames and HPACK blocks.
  const size_t piece = size == 0 ? 1 : (data[0] % 97) + 1;
  for (size_t off = size == 0 ? 0 : 1; off < size; off += piece) {
    size_t n = size - off < piece ? size - off : piece;
    if (!s.feed(reinterpret_cast<const char*>(data) + off, n)) break;
    s.send(b, framed, false);
    drain(s);
  }
  s.reset(b, 8);
  drain(s);
  s.fail_all();
  check(unary.closed);  // fail_all closes whatever was still open
  return 0;
}

// The gateway's HTTP/2 server connection (http::H2Server) on arbitrary
// frames after the connection preface, driven as the gateway drives it:
// bytes fed in two pieces (split at a point taken from the first byte),
// output taken after each; every request head is checked and answered
// (a head, a body piece, trailers), every body byte consumed, one stream
// in three reset. Invariants: a head's views lie in its stream's storage,
// pseudo-headers never reach the header list, no crash or leak.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/h2_server.h"

using namespace wg::http;

namespace {

void check(bool ok) {
  if (!ok) abort();
}

struct Driver : H2Events {
  H2Server* server = nullptr;
  void on_h2_request(int32_t id, const Head& h, bool end_stream) override {
    check(h.num_headers <= kMaxHeaders);
    check(h.target.substr(0, h.path.size()) == h.path);
    for (size_t i = 0; i < h.num_headers; ++i) check(!h.headers[i].name.empty() && h.headers[i].name[0] != ':');
    if (id % 3 == 0) {
      server->reset(id, 8);  // CANCEL
      return;
    }
    const Header resp[] = {{"Content-Type", "text/plain", HeaderId::Other, false},
                           {"Connection", "close", HeaderId::Connection, false}};
    server->submit_response(id, 200, resp, 2, false);
    server->send_data(id, "ok", 2);
    if (end_stream) {
      const Header trailers[] = {{"x-t", "1", HeaderId::Other, false}};
      server->finish(id, trailers, 1);
    }
  }
  void on_h2_data(int32_t id, const char*, size_t len) override { server->consumed(id, len); }
  void on_h2_request_end(int32_t id) override { server->finish(id); }
  void on_h2_close(int32_t, uint32_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Driver d;
  H2Limits limits;
  limits.reset_burst = 10;
  H2Server server(limits, &d);
  d.server = &server;
  std::string in(H2Server::kPreface);
  in.append(reinterpret_cast<const char*>(data), size);
  const size_t split = size > 0 ? H2Server::kPreface.size() + data[0] % (size + 1) : in.size();
  std::string out;
  if (server.receive(in.data(), split, 1)) {
    server.take_output(out);
    server.receive(in.data() + split, in.size() - split, 2);
  }
  server.take_output(out);
  return 0;
}

// The HTTP/2 server connection against nghttp2's client session (and raw
// frames for what a well-behaved client never sends).
#include "http/h2_server.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <map>
#include <string>
#include <vector>

namespace wg::http {
namespace {

// What the server's connection heard.
struct Recorder : H2Events {
  struct Request {
    std::string method, target, path, query, host;
    std::vector<std::pair<std::string, std::string>> headers;
    BodyKind body = BodyKind::None;
    uint64_t content_length = 0;
    std::string data;
    bool ended = false;
    bool closed = false;
    uint32_t close_code = 0;
  };
  std::map<int32_t, Request> requests;
  void on_h2_request(int32_t id, const Head& h, bool) override {
    Request& r = requests[id];
    r.method = h.method;
    r.target = h.target;
    r.path = h.path;
    r.query = h.query;
    r.host = h.host;
    for (size_t i = 0; i < h.num_headers; ++i) r.headers.emplace_back(h.headers[i].name, h.headers[i].value);
    r.body = h.body;
    r.content_length = h.content_length;
  }
  void on_h2_data(int32_t id, const char* data, size_t len) override { requests[id].data.append(data, len); }
  void on_h2_request_end(int32_t id) override { requests[id].ended = true; }
  void on_h2_close(int32_t id, uint32_t code) override {
    requests[id].closed = true;
    requests[id].close_code = code;
  }
  std::string header(int32_t id, std::string_view name) {
    for (auto& [k, v] : requests[id].headers) {
      if (k == name) return v;
    }
    return "<none>";
  }
};

// A client on nghttp2's session, talking to the server through memory.
struct Client {
  struct Response {
    std::map<std::string, std::string> headers, trailers;
    std::string body;
    bool closed = false;
    uint32_t close_code = 0;
    bool head_done = false;
  };
  nghttp2_session* s = nullptr;
  std::map<int32_t, Response> responses;
  int64_t goaway_code = -1;
  std::string upload;  // the body of the next POST
  size_t upload_off = 0;

  Client() {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl,
               uint8_t, void* u) {
          Response& r = static_cast<Client*>(u)->responses[f->hd.stream_id];
          std::string name(reinterpret_cast<const char*>(n), nl), value(reinterpret_cast<const char*>(v), vl);
          (r.head_done ? r.trailers : r.headers)[name] = value;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
      Client* c = static_cast<Client*>(u);
      if (f->hd.type == NGHTTP2_HEADERS) c->responses[f->hd.stream_id].head_done = true;
      if (f->hd.type == NGHTTP2_GOAWAY) c->goaway_code = f->goaway.error_code;
      return 0;
    });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          static_cast<Client*>(u)->responses[id].body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, [](nghttp2_session*, int32_t id, uint32_t code, void* u) {
      Response& r = static_cast<Client*>(u)->responses[id];
      r.closed = true;
      r.close_code = code;
      return 0;
    });
    nghttp2_session_client_new(&s, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(s); }

  int32_t request(const char* method, const char* path, std::vector<std::pair<std::string, std::string>> extra = {},
                  bool with_body = false) {
    std::vector<std::pair<std::string, std::string>> all = {
        {":method", method}, {":scheme", "https"}, {":authority", "example.com"}, {":path", path}};
    all.insert(all.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nv;
    for (auto& [k, v] : all) {
      nv.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider p;
    p.source.ptr = this;
    p.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags, nghttp2_data_source* src,
                         void*) -> ssize_t {
      Client* c = static_cast<Client*>(src->ptr);
      size_t n = std::min(len, c->upload.size() - c->upload_off);
      memcpy(buf, c->upload.data() + c->upload_off, n);
      c->upload_off += n;
      if (c->upload_off == c->upload.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    return nghttp2_submit_request(s, nullptr, nv.data(), nv.size(), with_body ? &p : nullptr, nullptr);
  }
  std::string output() {
    std::string out;
    for (;;) {
      const uint8_t* p;
      ssize_t n = nghttp2_session_mem_send(s, &p);
      if (n <= 0) return out;
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
  }
  void input(const std::string& in) {
    nghttp2_session_mem_recv(s, reinterpret_cast<const uint8_t*>(in.data()), in.size());
  }
};

// Moves bytes both ways until neither side has more; false when the
// server gave the connection up.
bool pump(Client& c, H2Server& server) {
  bool ok = true;
  for (int round = 0; round < 100; ++round) {
    std::string up = c.output();
    if (!up.empty() && !server.receive(up.data(), up.size(), 1000)) ok = false;
    std::string down;
    server.take_output(down);
    if (!down.empty()) c.input(down);
    if (up.empty() && down.empty()) break;
  }
  return ok;
}

TEST(H2Server, RequestHeadAndResponseRoundTrip) {
  Recorder rec;
  H2Server server(H2Limits{}, &rec);
  Client c;
  int32_t id = c.request("GET", "/a/b?x=1", {{"x-one", "1"}, {"cookie", "a=1"}, {"cookie", "b=2"}});
  ASSERT_TRUE(pump(c, server));
  ASSERT_EQ(rec.requests.count(id), 1u);
  Recorder::Request& r = rec.requests[id];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/a/b?x=1");
  EXPECT_EQ(r.path, "/a/b");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_EQ(r.host, "example.com");
  EXPECT_EQ(r.body, BodyKind::None);
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(rec.header(id, "x-one"), "1");
  EXPECT_EQ(rec.header(id, "cookie"), "a=1; b=2");  // crumbs joined for HTTP/1.1

  const Header resp[] = {{"Content-Type", "text/plain", HeaderId::Other, false},
                         {"Connection", "keep-alive", HeaderId::Connection, false},
                         {"Transfer-Encoding", "chunked", HeaderId::TransferEncoding, false},
                         {"X-Up", "yes", HeaderId::Other, false}};
  ASSERT_TRUE(server.submit_response(id, 201, resp, 4, false));
  server.send_data(id, "hello ", 6);
  ASSERT_TRUE(pump(c, server));
  server.send_data(id, "world", 5);
  const Header trailers[] = {{"Grpc-Status", "0", HeaderId::Other, false}};
  server.finish(id, trailers, 1);
  ASSERT_TRUE(pump(c, server));
  Client::Response& got = c.responses[id];
  EXPECT_EQ(got.headers[":status"], "201");
  EXPECT_EQ(got.headers["content-type"], "text/plain");
  EXPECT_EQ(got.headers["x-up"], "yes");
  EXPECT_EQ(got.headers.count("connection"), 0u);
  EXPECT_EQ(got.headers.count("transfer-encoding"), 0u);
  EXPECT_EQ(got.body, "hello world");
  EXPECT_EQ(got.trailers["grpc-status"], "0");
  EXPECT_TRUE(got.closed);
  EXPECT_EQ(got.close_code, 0u);
  EXPECT_TRUE(rec.requests[id].closed);
}

TEST(H2Server, RequestBodyWindowOpensOnlyAsConsumed) {
  Recorder rec;
  H2Limits limits;
  limits.initial_window = 16384;
  H2Server server(limits, &rec);
  Client c;
  ASSERT_TRUE(pump(c, server));  // SETTINGS both ways: the small window applies
  c.upload.assign(200000, 'x');
  int32_t id = c.request("POST", "/up", {{"content-length", "200000"}}, true);
  ASSERT_TRUE(pump(c, server));
  Recorder::Request& r = rec.requests[id];
  EXPECT_EQ(r.body, BodyKind::Length);
  EXPECT_EQ(r.content_length, 200000u);
  // Nothing taken: the stream's window stops the client.
  EXPECT_EQ(r.data.size(), 16384u);
  size_t taken = 0;
  for (int i = 0; i < 100 && taken < r.data.size(); ++i) {
    server.consumed(id, r.data.size() - taken);
    taken = r.data.size();
    ASSERT_TRUE(pump(c, server));
  }
  EXPECT_EQ(r.data.size(), 200000u);
  EXPECT_TRUE(r.ended);
}

TEST(H2Server, BodyWithoutLengthEndsWithTheStream) {
  Recorder rec;
  H2Server server(H2Limits{}, &rec);
  Client c;
  c.upload = "abc";
  int32_t id = c.request("POST", "/", {}, true);
  ASSERT_TRUE(pump(c, server));
  EXPECT_EQ(rec.requests[id].body, BodyKind::UntilClose);
  EXPECT_EQ(rec.requests[id].data, "abc");
  EXPECT_TRUE(rec.requests[id].ended);
}

TEST(H2Server, AdvertisesItsLimits) {
  Recorder rec;
  H2Limits limits;
  limits.max_concurrent_streams = 7;
  H2Server server(limits, &rec);
  Client c;
  c.request("GET", "/");
  ASSERT_TRUE(pump(c, server));
  EXPECT_EQ(nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7u);
  EXPECT_EQ(nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 32768u);
}

TEST(H2Server, OversizedHeaderListResetsOnlyItsStream) {
  Recorder rec;
  H2Server server(H2Limits{}, &rec);
  Client c;
  // An HPACK bomb's shape: one large value repeated (indexed after the
  // first), far more decoded bytes than sent.
  std::vector<std::pair<std::string, std::string>> bomb;
  for (int i = 0; i < 40; ++i) bomb.emplace_back("x-bomb", std::string(1000, 'b'));
  int32_t bad = c.request("GET", "/bomb", bomb);
  ASSERT_TRUE(pump(c, server));
  EXPECT_EQ(rec.requests.count(bad), 0u);
  EXPECT_TRUE(c.responses[bad].closed);
  EXPECT_EQ(c.responses[bad].close_code, static_cast<uint32_t>(NGHTTP2_REFUSED_STREAM));
  // Too many fields, each small.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 200; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
  int32_t bad2 = c.request("GET", "/many", many);
  int32_t good = c.request("GET", "/fine");
  ASSERT_TRUE(pump(c, server));
  EXPECT_EQ(rec.requests.count(bad2), 0u);
  EXPECT_TRUE(c.responses[bad2].closed);
  ASSERT_EQ(rec.requests.count(good), 1u);
  EXPECT_EQ(rec.requests[good].path, "/fine");
}

TEST(H2Server, RapidResetEndsTheConnectionWithEnhanceYourCalm) {
  Recorder rec;
  H2Limits limits;
  limits.reset_burst = 20;
  H2Server server(limits, &rec);
  Client c;
  bool ok = true;
  for (int i = 0; i < 40 && ok; ++i) {
    int32_t id = c.request("GET", "/");
    ok = pump(c, server);  // the request goes out, then its reset
    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    ok = pump(c, server);
  }
  EXPECT_FALSE(ok);
  EXPECT_EQ(c.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_STREQ(server.error(), "too many stream resets");
}

TEST(H2Server, ResetsWithinTheRateAreFine) {
  Recorder rec;
  H2Limits limits;
  limits.reset_burst = 20;
  H2Server server(limits, &rec);
  Client c;
  for (int i = 0; i < 10; ++i) {
    int32_t id = c.request("GET", "/");
    ASSERT_TRUE(pump(c, server));
    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    ASSERT_TRUE(pump(c, server));
  }
  EXPECT_EQ(c.goaway_code, -1);
}

// Frame header: 24-bit length, type, flags, stream id.
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f;
  f.push_back(static_cast<char>(payload.size() >> 16));
  f.push_back(static_cast<char>(payload.size() >> 8));
  f.push_back(static_cast<char>(payload.size()));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>(stream >> 24));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  return f + payload;
}

TEST(H2Server, ContinuationFloodEndsTheConnection) {
  Recorder rec;
  H2Server server(H2Limits{}, &rec);
  std::string in(H2Server::kPreface);
  in += frame(0x4, 0, 0, "");  // SETTINGS
  // HEADERS without END_HEADERS (":method GET" indexed), then CONTINUATIONs
  // each carrying one more literal header, never ending the block.
  in += frame(0x1, 0, 1, std::string("\x82", 1));
  const std::string literal = std::string("\x40\x03x-c\x01v", 7);
  for (int i = 0; i < 50; ++i) in += frame(0x9, 0, 1, literal);
  EXPECT_FALSE(server.receive(in.data(), in.size(), 1));
  std::string out;
  server.take_output(out);
  EXPECT_NE(out.find(std::string("\x07", 1)), std::string::npos);  // a GOAWAY frame went out
  EXPECT_TRUE(rec.requests.empty());
}

TEST(H2Server, PrefaceDetection) {
  EXPECT_TRUE(H2Server::may_be_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_TRUE(H2Server::may_be_preface("PRI * HT"));
  EXPECT_TRUE(H2Server::may_be_preface(""));
  EXPECT_FALSE(H2Server::may_be_preface("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(H2Server::may_be_preface("PRI * HTTP/1.1"));
}

TEST(H2Server, GarbageIsAConnectionError) {
  Recorder rec;
  H2Server server(H2Limits{}, &rec);
  const std::string in = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_FALSE(server.receive(in.data(), in.size(), 1));
  EXPECT_STRNE(server.error(), "");
}

}  // namespace
}  // namespace wg::http

// The HTTP/2 client session (src/client/h2_session) against an nghttp2
// server session in memory: a gRPC-shaped exchange with trailers, a
// trailers-only answer, a GOAWAY that refuses a stream, a reset, and
// garbage from the server.
#include "client/h2_session.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using wg::client::Fields;
using wg::client::H2Session;
using wg::client::H2Sink;

struct Recorder final : H2Sink {
  std::vector<Fields> heads, trailers;
  std::string data;
  bool closed = false, lost = false;
  uint32_t error = 0;
  void on_headers(Fields& f, bool t) override { (t ? trailers : heads).push_back(f); }
  void on_data(std::string_view d) override { data.append(d); }
  void on_close(uint32_t e, bool l) override {
    closed = true;
    error = e;
    lost = l;
  }
};

// A minimal server: remembers the request streams and their bodies, and
// answers what a test submits.
struct Server {
  nghttp2_session* s = nullptr;
  std::vector<int32_t> streams;
  std::string body;
  bool request_ended = false;
  std::string reply;  // DATA the next response sends
  size_t reply_off = 0;

  Server() {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
      auto* self = static_cast<Server*>(u);
      if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) self->streams.push_back(f->hd.stream_id);
      if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        self->request_ended = true;
      }
      return 0;
    });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, uint8_t, int32_t, const uint8_t* d, size_t n, void* u) {
          static_cast<Server*>(u)->body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_server_new(&s, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Server() { nghttp2_session_del(s); }

  // Response headers, then `reply` as DATA without END_STREAM, then trailers.
  void answer(int32_t id, const std::vector<std::pair<std::string, std::string>>& head,
              const std::vector<std::pair<std::string, std::string>>& trailers) {
    std::vector<nghttp2_nv> nv = to_nv(head);
    nghttp2_data_provider p{};
    p.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                         nghttp2_data_source*, void* user_data) -> ssize_t {
      auto* self = static_cast<Server*>(user_data);
      size_t n = std::min(len, self->reply.size() - self->reply_off);
      std::memcpy(buf, self->reply.data() + self->reply_off, n);
      self->reply_off += n;
      if (self->reply_off == self->reply.size()) {
        // Trailers go once the body is out (nghttp2 wants them submitted from here).
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_submit_trailer(self->s, self->answering_, self->keep_.data(), self->keep_.size());
      }
      return static_cast<ssize_t>(n);
    };
    keep_ = to_nv(trailers);
    answering_ = id;
    nghttp2_submit_response(s, id, nv.data(), nv.size(), &p);
  }
  void trailers_only(int32_t id, const std::vector<std::pair<std::string, std::string>>& head) {
    std::vector<nghttp2_nv> nv = to_nv(head);
    nghttp2_submit_response(s, id, nv.data(), nv.size(), nullptr);
  }

  std::vector<nghttp2_nv> to_nv(const std::vector<std::pair<std::string, std::string>>& f) {
    strings_.push_back(f);
    std::vector<nghttp2_nv> nv;
    for (auto& [k, v] : strings_.back()) {
      nv.push_back({reinterpret_cast<uint8_t*>(k.data()), reinterpret_cast<uint8_t*>(v.data()), k.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    return nv;
  }

 private:
  std::vector<std::vector<std::pair<std::string, std::string>>> strings_;
  std::vector<nghttp2_nv> keep_;
  int32_t answering_ = 0;
};

// Moves bytes both ways until neither side has more.
void pump(H2Session& c, Server& srv) {
  for (int i = 0; i < 20; ++i) {
    std::string_view out = c.output();
    bool moved = !out.empty();
    if (moved) {
      ASSERT_GE(nghttp2_session_mem_recv(srv.s, reinterpret_cast<const uint8_t*>(out.data()), out.size()), 0);
      c.wrote(out.size());
    }
    const uint8_t* p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(srv.s, &p)) > 0) {
      moved = true;
      ASSERT_TRUE(c.feed(reinterpret_cast<const char*>(p), static_cast<size_t>(n)));
    }
    if (!moved) return;
  }
}

const Fields kRequest = {{":method", "POST"}, {":scheme", "http"}, {":path", "/test.Echo/Unary"},
                         {":authority", "x"}, {"content-type", "application/grpc"}, {"te", "trailers"}};

TEST(H2Session, RequestBodyThenHeadDataAndTrailers) {
  H2Session c;
  Server srv;
  Recorder r;
  int32_t id = c.open(kRequest, &r);
  ASSERT_EQ(id, 1);
  ASSERT_TRUE(c.send(id, "part one,", false));
  pump(c, srv);
  ASSERT_TRUE(c.send(id, "part two", true));  // resumes the deferred body
  pump(c, srv);
  EXPECT_EQ(srv.body, "part one,part two");
  EXPECT_TRUE(srv.request_ended);
  EXPECT_FALSE(c.send(id, "more", true));  // already ended

  srv.reply = "answer";
  srv.answer(id, {{":status", "200"}, {"content-type", "application/grpc"}}, {{"grpc-status", "0"}, {"x-t", "1"}});
  pump(c, srv);
  ASSERT_EQ(r.heads.size(), 1u);
  EXPECT_EQ(r.heads[0][0], (std::pair<std::string, std::string>{":status", "200"}));
  EXPECT_EQ(r.data, "answer");
  ASSERT_EQ(r.trailers.size(), 1u);
  EXPECT_EQ(r.trailers[0][0].first, "grpc-status");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(c.open_streams(), 0u);
  EXPECT_TRUE(c.accepts_streams());
}

TEST(H2Session, TrailersOnlyAnswerIsOneHeadBlock) {
  H2Session c;
  Server srv;
  Recorder r;
  int32_t id = c.open(kRequest, &r);
  c.send(id, "", true);
  pump(c, srv);
  srv.trailers_only(id, {{":status", "200"}, {"content-type", "application/grpc"}, {"grpc-status", "12"}});
  pump(c, srv);
  ASSERT_EQ(r.heads.size(), 1u);
  EXPECT_TRUE(r.trailers.empty());
  EXPECT_TRUE(r.closed);
}

TEST(H2Session, GoawayRefusesLaterStreamsAndNewOnes) {
  H2Session c;
  Server srv;
  Recorder first, second;
  int32_t a = c.open(kRequest, &first);
  c.send(a, "", true);
  int32_t b = c.open(kRequest, &second);
  c.send(b, "", true);
  pump(c, srv);
  nghttp2_submit_goaway(srv.s, NGHTTP2_FLAG_NONE, a, NGHTTP2_NO_ERROR, nullptr, 0);
  pump(c, srv);
  EXPECT_FALSE(first.closed);  // at or below last_stream_id: it goes on
  EXPECT_TRUE(second.closed);
  EXPECT_EQ(second.error, static_cast<uint32_t>(NGHTTP2_REFUSED_STREAM));
  EXPECT_FALSE(c.accepts_streams());
  Recorder third;
  EXPECT_EQ(c.open(kRequest, &third), -1);
}

TEST(H2Session, ResetByUsSilencesTheSinkAndByThePeerReportsIt) {
  H2Session c;
  Server srv;
  Recorder mine, theirs;
  int32_t a = c.open(kRequest, &mine);
  int32_t b = c.open(kRequest, &theirs);
  pump(c, srv);
  c.reset(a, NGHTTP2_CANCEL);
  nghttp2_submit_rst_stream(srv.s, NGHTTP2_FLAG_NONE, b, NGHTTP2_ENHANCE_YOUR_CALM);
  pump(c, srv);
  EXPECT_FALSE(mine.closed);
  EXPECT_TRUE(theirs.closed);
  EXPECT_EQ(theirs.error, static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
}

TEST(H2Session, GarbageFromTheServerEndsTheSessionAndFailAllTellsTheSinks) {
  H2Session c;
  Recorder r;
  c.open(kRequest, &r);
  c.output();
  c.wrote(c.output().size());
  // A DATA frame on stream 0 (and not the SETTINGS a server starts with):
  // nghttp2 answers with a GOAWAY, after which the session has no use.
  c.feed("\0\0\x01\0\0\0\0\0\0" "x", 10);
  std::string_view goaway = c.output();
  ASSERT_GE(goaway.size(), 9u);
  EXPECT_EQ(goaway[3], NGHTTP2_GOAWAY);
  c.wrote(goaway.size());
  EXPECT_FALSE(c.busy());
  EXPECT_FALSE(c.accepts_streams());
  c.fail_all();  // what the connection then does
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(r.lost);
}

}  // namespace

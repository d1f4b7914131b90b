#include "client/h2_session.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

namespace wg::client {

// nghttp2's callbacks, each finding the session through user_data.
struct H2Session::Callbacks {
  static H2Session& self(void* user_data) { return *static_cast<H2Session*>(user_data); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (Stream* s = self(user_data).find(frame->hd.stream_id)) s->fields.clear();
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* user_data) {
    Stream* s = self(user_data).find(frame->hd.stream_id);
    if (s == nullptr) return 0;
    s->header_bytes += namelen + valuelen + 32;  // RFC 9113's size of a field
    if (s->header_bytes > kMaxHeaderList) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    s->fields.emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                           std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Stream* s = self(user_data).find(frame->hd.stream_id);
    if (s == nullptr || s->sink == nullptr) return 0;
    s->header_bytes = 0;
    if (!s->head_seen) {
      bool interim = !s->fields.empty() && s->fields[0].first == ":status" && s->fields[0].second.size() == 3 &&
                     s->fields[0].second[0] == '1';
      if (interim) return 0;  // 1xx: the real head follows
      s->head_seen = true;
      s->sink->on_headers(s->fields, false);
    } else {
      s->sink->on_headers(s->fields, true);
    }
    s->fields.clear();
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user_data) {
    Stream* s = self(user_data).find(id);
    if (s != nullptr && s->sink != nullptr) s->sink->on_data({reinterpret_cast<const char*>(data), len});
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t id, uint32_t error, void* user_data) {
    H2Session& h = self(user_data);
    auto it = h.streams_.find(id);
    if (it == h.streams_.end()) return 0;
    std::unique_ptr<Stream> s = std::move(it->second);
    h.streams_.erase(it);
    if (s->sink != nullptr) s->sink->on_close(error, false);
    return 0;
  }

  // A request body, as the caller hands it over: none left but not ended
  // defers the stream until send() brings more.
  static ssize_t read_body(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source*, void* user_data) {
    Stream* s = self(user_data).find(id);
    if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = std::min(length, s->body.size() - s->body_off);
    std::memcpy(buf, s->body.data() + s->body_off, n);
    s->body_off += n;
    if (s->body_off == s->body.size()) {
      s->body.clear();
      s->body_off = 0;
      if (s->end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

H2Session::H2Session() {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, Callbacks::on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_settings(opt, 32);  // SETTINGS floods
  if (nghttp2_session_client_new2(&session_, cb, this, opt) != 0) {
    session_ = nullptr;
    failed_ = true;
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (session_ == nullptr) return;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderList},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

H2Session::~H2Session() {
  streams_.clear();  // nghttp2 finds no stream to call back about
  if (session_ != nullptr) nghttp2_session_del(session_);
}

H2Session::Stream* H2Session::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int32_t H2Session::open(const Fields& fields, H2Sink* sink) {
  if (!accepts_streams()) return -1;
  std::vector<nghttp2_nv> nva;
  nva.reserve(fields.size());
  for (const auto& [k, v] : fields) {
    nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider body{};
  body.read_callback = Callbacks::read_body;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &body, nullptr);
  if (id < 0) return -1;
  auto s = std::make_unique<Stream>();
  s->sink = sink;
  streams_.emplace(id, std::move(s));
  return id;
}

bool H2Session::send(int32_t id, std::string_view data, bool end) {
  Stream* s = find(id);
  if (s == nullptr || s->end || failed_) return false;
  s->body.append(data);
  s->end = end;
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return true;
}

void H2Session::reset(int32_t id, uint32_t error) {
  Stream* s = find(id);
  if (s == nullptr) return;
  s->sink = nullptr;
  if (!failed_) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error);
}

bool H2Session::feed(const char* data, size_t len) {
  if (failed_) return false;
  ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  // A connection error nghttp2 handled itself (bad frames: it queued a
  // GOAWAY) or a GOAWAY that left nothing to wait for: the session reads
  // no more.
  if (n < 0 || nghttp2_session_want_read(session_) == 0) failed_ = true;
  return !failed_;
}

std::string_view H2Session::output() {
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
  if (session_ != nullptr && out_.size() - out_off_ < (64u << 10)) {
    for (;;) {
      const uint8_t* frames = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &frames);
      if (n <= 0) {
        if (n < 0) failed_ = true;
        break;
      }
      out_.append(reinterpret_cast<const char*>(frames), static_cast<size_t>(n));
      if (out_.size() - out_off_ >= (64u << 10)) break;  // bound what one turn buffers
    }
  }
  return std::string_view(out_).substr(out_off_);
}

bool H2Session::busy() const {
  if (session_ == nullptr) return false;
  if (out_off_ < out_.size()) return true;
  return !failed_ && (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_));
}

bool H2Session::accepts_streams() const {
  return !failed_ && session_ != nullptr && nghttp2_session_check_request_allowed(session_) != 0;
}

void H2Session::fail_all() {
  failed_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) {
    if (s->sink != nullptr) s->sink->on_close(0, true);
  }
}

}  // namespace wg::client

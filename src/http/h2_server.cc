// HTTP/2 server connection on nghttp2's session: nghttp2 does the framing,
// HPACK, flow control and RFC 9113 message checks (pseudo-headers,
// connection-specific fields, content-length against DATA); this file
// turns its callbacks into http::Head per stream and back.
#include "http/h2_server.h"

#include <nghttp2/nghttp2.h>

#include <charconv>
#include <cstring>
#include <vector>

namespace wg::http {

// One stream: its request head as received, its response body queue.
struct H2Server::Stream {
  // The header block's names and values, one after the other; the views
  // of `head` point into it once the block is complete.
  std::string block;
  struct Field {
    uint32_t name_off, name_len, value_off, value_len;
  };
  std::vector<Field> fields;
  Field method{}, scheme{}, authority{}, path{};
  std::string cookie;  // cookie crumbs joined with "; " (RFC 9113 8.2.3)
  size_t list_size = 0;
  bool too_large = false;
  bool head_done = false;
  Head head;

  std::string out;  // response body bytes not framed yet
  size_t out_off = 0;
  bool out_eof = false;
  bool deferred = false;  // nghttp2 waits for send_data or finish
  std::vector<std::string> trailer_text;  // name, value, name, value...

  std::string_view view(uint32_t off, uint32_t len) const { return {block.data() + off, len}; }
};

namespace {

H2Server* self(void* user) { return static_cast<H2Server*>(user); }

int begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self(user)->on_begin_headers(frame->hd.stream_id);
}

int header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  return self(user)->on_header(frame->hd.stream_id, {reinterpret_cast<const char*>(name), namelen},
                               {reinterpret_cast<const char*>(value), valuelen});
}

int frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  H2Server* s = self(user);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      int rc = s->on_headers_done(frame->hd.stream_id, end_stream);
      if (rc != 0 || !end_stream) return rc;
      return s->on_end(frame->hd.stream_id);
    }
    case NGHTTP2_DATA:
      return end_stream ? s->on_end(frame->hd.stream_id) : 0;
    case NGHTTP2_RST_STREAM:
      return s->on_rst_received();
    default:
      return 0;
  }
}

int data_chunk_cb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
  return self(user)->on_data(stream_id, reinterpret_cast<const char*>(data), len);
}

int stream_close_cb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
  return self(user)->on_close(stream_id, error_code);
}

ssize_t read_data_cb(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t len, uint32_t* flags,
                     nghttp2_data_source*, void* user) {
  return self(user)->read_data(stream_id, buf, len, flags);
}

bool connection_specific(const Header& h) {
  switch (h.id) {
    case HeaderId::Connection:
    case HeaderId::KeepAlive:
    case HeaderId::ProxyConnection:
    case HeaderId::TransferEncoding:
    case HeaderId::Upgrade:
    case HeaderId::Te:
      return true;
    default:
      return h.hop_by_hop;
  }
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

H2Server::H2Server(const H2Limits& limits, H2Events* events)
    : limits_(limits), events_(events), reset_tokens_(limits.reset_burst) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, stream_close_cb);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // The window reopens as the upstream takes the bytes (consumed), not as
  // they arrive: a slow upstream slows the client, per stream.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_continuations(opt, limits_.max_continuations);
  nghttp2_option_set_max_outbound_ack(opt, 1000);  // SETTINGS/PING floods
  nghttp2_option_set_max_settings(opt, NGHTTP2_DEFAULT_MAX_SETTINGS);
  nghttp2_session_server_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
}

H2Server::~H2Server() { nghttp2_session_del(session_); }

bool H2Server::receive(const char* data, size_t len, uint64_t now_ms) {
  now_ms_ = now_ms;
  if (error_[0] != '\0') return false;
  const ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  if (n < 0) {
    // nghttp2 queued a GOAWAY for protocol errors; ours (fail) already
    // terminated the session with the code that says why.
    if (error_[0] == '\0') fail(nghttp2_strerror(static_cast<int>(n)), NGHTTP2_PROTOCOL_ERROR);
    return false;
  }
  return error_[0] == '\0';
}

void H2Server::take_output(std::string& out) {
  for (;;) {
    const uint8_t* p = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n <= 0) return;
    out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
}

bool H2Server::finished() const {
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

void H2Server::fail(const char* why, uint32_t error_code) {
  error_ = why;
  nghttp2_session_terminate_session(session_, error_code);
}

H2Server::Stream* H2Server::stream(int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

int H2Server::on_begin_headers(int32_t id) {
  if (stream(id) != nullptr) return 0;  // trailers
  auto s = std::make_unique<Stream>();
  s->fields.reserve(16);
  streams_.emplace(id, std::move(s));
  return 0;
}

int H2Server::on_header(int32_t id, std::string_view name, std::string_view value) {
  Stream* s = stream(id);
  if (s == nullptr) return 0;
  // Every field counts against the list size, even ones not stored.
  s->list_size += name.size() + value.size() + 32;
  if (s->list_size > limits_.max_header_list || s->fields.size() >= kMaxHeaders) s->too_large = true;
  if (s->too_large || s->head_done) return 0;  // request trailers are not forwarded
  if (name == "cookie") {
    if (!s->cookie.empty()) s->cookie.append("; ");
    s->cookie.append(value);
    return 0;
  }
  Stream::Field f;
  f.name_off = static_cast<uint32_t>(s->block.size());
  f.name_len = static_cast<uint32_t>(name.size());
  s->block.append(name);
  f.value_off = static_cast<uint32_t>(s->block.size());
  f.value_len = static_cast<uint32_t>(value.size());
  s->block.append(value);
  if (name[0] != ':') {
    s->fields.push_back(f);
  } else if (name == ":method") {
    s->method = f;
  } else if (name == ":scheme") {
    s->scheme = f;
  } else if (name == ":authority") {
    s->authority = f;
  } else if (name == ":path") {
    s->path = f;
  }
  return 0;
}

// The header block is complete: the request's head, as the HTTP/1.1
// parser would have given it (HTTP/1.1 semantics, keep-alive).
int H2Server::on_headers_done(int32_t id, bool end_stream) {
  Stream* s = stream(id);
  if (s == nullptr || s->head_done) return 0;
  s->head_done = true;
  if (!s->cookie.empty() && s->fields.size() >= kMaxHeaders) s->too_large = true;
  if (s->too_large) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  if (!s->cookie.empty()) {
    Stream::Field f{static_cast<uint32_t>(s->block.size()), 6, static_cast<uint32_t>(s->block.size() + 6),
                    static_cast<uint32_t>(s->cookie.size())};
    s->block.append("cookie");
    s->block.append(s->cookie);
    s->fields.push_back(f);
  }
  Head& h = s->head;
  h.reset();
  h.minor_version = 1;
  h.method = s->view(s->method.value_off, s->method.value_len);
  h.target = s->view(s->path.value_off, s->path.value_len);
  const size_t q = h.target.find('?');
  h.path = h.target.substr(0, q);
  h.query = q == std::string_view::npos ? std::string_view() : h.target.substr(q + 1);
  h.host = s->view(s->authority.value_off, s->authority.value_len);
  h.head_len = s->block.size();
  bool has_length = false;
  for (const Stream::Field& f : s->fields) {
    Header& hd = h.headers[h.num_headers++];
    hd.name = s->view(f.name_off, f.name_len);
    hd.value = s->view(f.value_off, f.value_len);
    hd.id = classify_header(hd.name);
    hd.hop_by_hop = hd.id == HeaderId::Te;  // "te: trailers", the one allowed, is hop-by-hop
    hd.wire_line = false;
    if (hd.id == HeaderId::Host && h.host.empty()) h.host = hd.value;
    if (hd.id == HeaderId::ContentLength) {
      // nghttp2 checked it is a number and will hold DATA to it.
      std::from_chars(hd.value.data(), hd.value.data() + hd.value.size(), h.content_length);
      has_length = true;
    }
  }
  // A body without a length ends with the stream.
  h.body = end_stream ? BodyKind::None : has_length ? BodyKind::Length : BodyKind::UntilClose;
  events_->on_h2_request(id, h, end_stream);
  return 0;
}

int H2Server::on_data(int32_t id, const char* data, size_t len) {
  Stream* s = stream(id);
  if (s == nullptr || !s->head_done || s->too_large) {
    consumed(id, len);  // not ours to hold: keep the connection's window open
    return 0;
  }
  events_->on_h2_data(id, data, len);
  return 0;
}

int H2Server::on_end(int32_t id) {
  Stream* s = stream(id);
  if (s != nullptr && s->head_done && !s->too_large) events_->on_h2_request_end(id);
  return 0;
}

int H2Server::on_close(int32_t id, uint32_t error_code) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return 0;
  const bool told = it->second->head_done && !it->second->too_large;
  streams_.erase(it);
  if (told) events_->on_h2_close(id, error_code);
  return 0;
}

// Rapid reset: each RST_STREAM from the client takes a token; tokens come
// back at reset_rate per second up to reset_burst. None left: GOAWAY
// ENHANCE_YOUR_CALM, as nginx and Envoy answer CVE-2023-44487.
int H2Server::on_rst_received() {
  if (reset_refill_ms_ == 0) reset_refill_ms_ = now_ms_;
  if (now_ms_ > reset_refill_ms_) {
    reset_tokens_ += static_cast<double>(now_ms_ - reset_refill_ms_) * limits_.reset_rate / 1000.0;
    if (reset_tokens_ > limits_.reset_burst) reset_tokens_ = limits_.reset_burst;
    reset_refill_ms_ = now_ms_;
  }
  if (reset_tokens_ < 1) {
    fail("too many stream resets", NGHTTP2_ENHANCE_YOUR_CALM);
    return 0;
  }
  reset_tokens_ -= 1;
  return 0;
}

void H2Server::consumed(int32_t stream_id, size_t n) {
  if (n > 0) nghttp2_session_consume(session_, stream_id, n);
}

bool H2Server::submit_response(int32_t stream_id, int status, const Header* headers, size_t n, bool end_stream) {
  Stream* s = stream(stream_id);
  if (s == nullptr) return false;
  // The lower-cased names live in names_ while nghttp2 copies them: size it
  // first so the views into it do not move.
  size_t name_bytes = 0;
  for (size_t i = 0; i < n; ++i) name_bytes += headers[i].name.size();
  names_.clear();
  names_.reserve(name_bytes);
  std::vector<nghttp2_nv> nv;
  nv.reserve(n + 1);
  char code[4];
  auto [end, ec] = std::to_chars(code, code + sizeof code, status);
  (void)ec;
  nv.push_back(make_nv(":status", {code, static_cast<size_t>(end - code)}));
  for (size_t i = 0; i < n; ++i) {
    const Header& h = headers[i];
    if (h.name.empty() || h.name[0] == ':' || connection_specific(h)) continue;
    const size_t at = names_.size();
    append_lower(names_, h.name);
    nv.push_back(make_nv({names_.data() + at, h.name.size()}, h.value));
  }
  nghttp2_data_provider provider;
  provider.source.ptr = nullptr;
  provider.read_callback = read_data_cb;
  return nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(), end_stream ? nullptr : &provider) == 0;
}

void H2Server::send_data(int32_t stream_id, const char* data, size_t len) {
  Stream* s = stream(stream_id);
  if (s == nullptr || s->out_eof) return;
  if (s->out_off == s->out.size()) {
    s->out.clear();
    s->out_off = 0;
  }
  s->out.append(data, len);
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, stream_id);
  }
}

size_t H2Server::buffered(int32_t stream_id) const {
  const Stream* s = stream(stream_id);
  return s == nullptr ? 0 : s->out.size() - s->out_off;
}

void H2Server::finish(int32_t stream_id, const Header* trailers, size_t n) {
  Stream* s = stream(stream_id);
  if (s == nullptr || s->out_eof) return;
  s->out_eof = true;
  for (size_t i = 0; i < n; ++i) {
    if (trailers[i].name.empty() || trailers[i].name[0] == ':' || connection_specific(trailers[i])) continue;
    s->trailer_text.push_back(to_lower(trailers[i].name));
    s->trailer_text.emplace_back(trailers[i].value);
  }
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, stream_id);
  }
}

long H2Server::read_data(int32_t id, uint8_t* buf, size_t len, uint32_t* flags) {
  Stream* s = stream(id);
  if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const size_t left = s->out.size() - s->out_off;
  const size_t n = left < len ? left : len;
  std::memcpy(buf, s->out.data() + s->out_off, n);
  s->out_off += n;
  if (s->out_off < s->out.size()) return static_cast<long>(n);
  if (!s->out_eof) {
    if (n > 0) return static_cast<long>(n);
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  if (!s->trailer_text.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    std::vector<nghttp2_nv> nv;
    for (size_t i = 0; i + 1 < s->trailer_text.size(); i += 2) {
      nv.push_back(make_nv(s->trailer_text[i], s->trailer_text[i + 1]));
    }
    nghttp2_submit_trailer(session_, id, nv.data(), nv.size());
  }
  return static_cast<long>(n);
}

void H2Server::reset(int32_t stream_id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
}

void H2Server::goaway() {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

}  // namespace wg::http

// A mutable header map (request or response headers or trailers, an
// outbound call's response): entries are name/value views over bytes the map
// owns. A parsed head goes in with one copy of its bytes and its parsed
// views rebased onto that copy, so neither filling the map nor writing the
// head back out allocates or re-classifies the headers a filter left alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include <utility>

namespace wg::http {

// Header pairs as handlers give them (a local response's headers).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HeaderMap {
 public:
  using Entry = Header;  // id: the name's HeaderId; hop_by_hop is always false

  // Empties the map; keeps its storage for the next request.
  void clear() {
    if (size_ != 0 || stored_ != 0 || pseudo_changed_ || kept_ != nullptr || deferred_) clear_used();
  }

  // ---- A deferred head (pipeline::Chain::lazy): the map stands for a
  // parsed head it does not copy, whose bytes stay put during the head's
  // phase (the session reads nothing meanwhile). Its entries are then only
  // what handlers add (written after the head's own lines); find(),
  // get_exact(), count() and any_field() see the head too (views into the
  // read buffer: good during the phase only); an operation that changes
  // or drops an entry first copies the head in (materialize), as keep()
  // and push_parsed() would have, the additions after it.
  struct Pseudo {
    std::string_view name, value;
    bool literal = false;  // value: a string literal (not copied)
  };
  // bytes: the head; headers: its parsed entries (views into bytes); as
  // push_parsed(headers, n, skip_host) after the pseudo-headers.
  void defer(std::string_view bytes, const Header* headers, size_t n, bool skip_host, const Pseudo* pseudo,
             size_t num_pseudo);
  // The same for a request head (:method, :path, :authority views into
  // bytes; :scheme a literal; Host left out) and a response head (:status):
  // inline, as they run on every request whose handlers defer a head.
  void defer_request(std::string_view bytes, const Header* headers, size_t n, std::string_view method,
                     std::string_view path, std::string_view authority, std::string_view scheme_literal) {
    defer_head(bytes, headers, n, true);
    pseudo_[0].name = ":method", pseudo_[0].value = method;
    pseudo_[1].name = ":path", pseudo_[1].value = path;
    pseudo_[2].name = ":authority", pseudo_[2].value = authority;
    pseudo_[3].name = ":scheme", pseudo_[3].value = scheme_literal;
    pseudo_literal_[0] = pseudo_literal_[1] = pseudo_literal_[2] = false;
    pseudo_literal_[3] = true;
    num_pseudo_ = 4;
  }
  void defer_response(std::string_view bytes, const Header* headers, size_t n, std::string_view status) {
    defer_head(bytes, headers, n, false);
    pseudo_[0].name = ":status", pseudo_[0].value = status;
    pseudo_literal_[0] = false;
    num_pseudo_ = 1;
  }
  bool deferred() const { return deferred_; }
  void materialize() {
    if (deferred_) materialize_now();
  }
  // The entries a reader of the head sees (held, and deferred).
  size_t count() const { return deferred_ ? deferred_count() + size_ : size_; }
  // Calls f(entry) for each header field a reader sees, in their order,
  // until f returns true; whether one did. The pseudo-headers of a
  // deferred head are not offered (a map that holds its head offers them:
  // f must answer false for a name that starts with ':').
  template <class F>
  bool any_field(F&& f) const {
    if (deferred_) {
      for (size_t i = 0; i < deferred_n_; ++i) {
        if (visible(deferred_headers_[i]) && f(deferred_headers_[i])) return true;
      }
    }
    for (const Entry& e : *this) {
      if (f(e)) return true;
    }
    return false;
  }

  // Copies `bytes` (a parsed head) into the map's storage once; views into
  // them then go in with push_parsed() and push_pseudo() without a copy.
  void keep(std::string_view bytes);
  // Appends parsed headers (views into the kept bytes, rebased onto the
  // copy) but the hop-by-hop ones and, for a request, Host (the map has
  // :authority instead).
  void push_parsed(const Header* headers, size_t n, bool skip_host);
  // Appends a pseudo-header (":path"): the name a string literal, the value
  // a view into the kept bytes (anything else is copied).
  void push_pseudo(std::string_view name, std::string_view value) {
    push({name, adopt(value), HeaderId::Other, false});
  }
  // Appends a header whose name and value are string literals.
  void push_literal(std::string_view name, std::string_view value) {
    push({name, value, HeaderId::Other, false});
  }

  // Copying operations (what a filter asks for).
  void add(std::string_view name, std::string_view value) { add(name, value, classify_header(name)); }
  void add(std::string_view name, std::string_view value, HeaderId id);  // id: name's HeaderId
  // As add(), stored as its wire line "name: value\r\n" (Header::wire_line),
  // so the head writer copies it in one piece: for headers a handler adds
  // on every request (rate-limiting's quota).
  void add_line(std::string_view name, std::string_view value, HeaderId id);
  // Appends a header given as its whole wire line "name: value\r\n" whose
  // name is the first name_size bytes, without a copy: the bytes must
  // outlive the request (a line a handler built at config time; the
  // config snapshot lives as long as the request).
  void push_line(std::string_view line, size_t name_size, HeaderId id) {
    note_name(line);
    push({line.substr(0, name_size), line.substr(name_size + 2, line.size() - name_size - 4), id, false, true});
  }
  // The first header of that name (any case) takes the value; the others
  // go. Appended when there is none.
  void replace(std::string_view name, std::string_view value);
  void remove(std::string_view name);
  void assign(const HeaderList& list);
  // Adds "name: value" lines, each ended by '\n' (a trailer section as the
  // chunked decoder gives it); a line that is not a field (no colon, a name
  // that is not a token) is skipped. Returns how many were skipped.
  size_t add_field_lines(std::string_view text);

  // Case-insensitive lookup; nullptr if absent.
  const Entry* find(std::string_view name) const;
  // Exact-name lookup (pseudo-headers); empty if absent.
  std::string_view get_exact(std::string_view name) const;
  // v's bytes in the map's copy of the kept head; empty when v is not part
  // of that head (or the map no longer holds it).
  std::string_view kept(std::string_view v) const {
    const uintptr_t off = reinterpret_cast<uintptr_t>(v.data()) - reinterpret_cast<uintptr_t>(original_.data());
    if (kept_ != nullptr && off < original_.size() && v.size() <= original_.size() - off) return {kept_ + off, v.size()};
    return {};
  }
  // Whether add/replace/remove/assign touched a pseudo-header since clear():
  // when not, the pseudo-headers are still the ones pushed.
  bool pseudo_changed() const { return pseudo_changed_; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const Entry* data() const { return items_.get(); }
  const Entry* begin() const { return items_.get(); }
  const Entry* end() const { return items_.get() + size_; }


 private:
  struct Block {
    std::unique_ptr<char[]> bytes;
    size_t cap = 0;
  };
  void push(const Entry& e) {
    if (size_ == cap_) grow();
    items_[size_++] = e;
  }
  void clear_used();
  void grow();
  std::string_view copy(std::string_view s);
  // A view into the kept bytes, moved onto their copy (anything else is copied).
  std::string_view adopt(std::string_view v) {
    std::string_view k = kept(v);
    return k.empty() ? copy(v) : k;
  }
  char* allocate(size_t n) {
    stored_ += n;
    if (n <= left_) {
      char* p = next_;
      next_ += n;
      left_ -= n;
      return p;
    }
    return allocate_slow(n);
  }
  char* allocate_slow(size_t n);
  void note_name(std::string_view name) { pseudo_changed_ = pseudo_changed_ || (!name.empty() && name[0] == ':'); }
  void compact();

  std::unique_ptr<Entry[]> items_;
  size_t size_ = 0;
  size_t cap_ = 0;
  // A deferred head (defer()).
  bool visible(const Header& h) const { return !h.hop_by_hop && !(skip_host_ && h.id == HeaderId::Host); }
  size_t deferred_count() const;
  void defer_head(std::string_view bytes, const Header* headers, size_t n, bool skip_host) {
    deferred_ = true;
    deferred_bytes_ = bytes;
    deferred_headers_ = headers;
    deferred_n_ = n;
    skip_host_ = skip_host;
  }
  void materialize_now();
  bool deferred_ = false;
  bool skip_host_ = false;
  std::string_view deferred_bytes_;
  const Header* deferred_headers_ = nullptr;
  size_t deferred_n_ = 0;
  Entry pseudo_[4];
  bool pseudo_literal_[4] = {};
  size_t num_pseudo_ = 0;
  bool pseudo_changed_ = false;
  std::vector<Block> blocks_;  // bump storage; views into it never move
  size_t block_bytes_ = 0;     // their total size
  size_t current_ = 0;         // the block being filled
  char* next_ = nullptr;       // its free part
  size_t left_ = 0;
  size_t stored_ = 0;          // bytes handed out since clear(), garbage included
  std::string_view original_;  // what keep() copied, and where the copy is
  const char* kept_ = nullptr;
};

}  // namespace wg::http

// A Proxy-Wasm header map (request or response headers or trailers, an
// http_call's response): entries are name/value views over bytes the map
// owns. A parsed head goes in with one copy of its bytes and its parsed
// views rebased onto that copy, so neither filling the map nor writing the
// head back out allocates or re-classifies the headers a filter left alone.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"
#include "wasm/pairs.h"

namespace wg::wasm {

class HeaderMap {
 public:
  using Entry = http::Header;  // id: the name's HeaderId; hop_by_hop is always false

  // Empties the map; keeps its storage for the next request.
  void clear();

  // Copies `bytes` (a parsed head) into the map's storage once; views into
  // them then go in with push_parsed() without another copy.
  void keep(std::string_view bytes);
  // Appends parsed headers (views into the kept bytes, rebased onto the
  // copy) but the hop-by-hop ones and, for a request, Host (the map has
  // :authority instead).
  void push_parsed(const http::Header* headers, size_t n, bool skip_host);
  // Appends a header whose name and value are string literals.
  void push_literal(std::string_view name, std::string_view value) {
    entries_.push_back({name, value, http::HeaderId::Other, false});
  }
  // Appends a pseudo-header (":path"): the name in static storage, the
  // value as push_parsed() takes it.
  void push_pseudo(std::string_view name, std::string_view value);

  // Copying operations (what a filter asks for).
  void add(std::string_view name, std::string_view value);
  // The first header of that name (any case) takes the value; the others
  // go. Appended when there is none.
  void replace(std::string_view name, std::string_view value);
  void remove(std::string_view name);
  void assign(const HeaderList& list);

  // Case-insensitive lookup; nullptr if absent.
  const Entry* find(std::string_view name) const;
  // Exact-name lookup (pseudo-headers); empty if absent.
  std::string_view get_exact(std::string_view name) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const Entry* data() const { return entries_.data(); }
  const Entry* begin() const { return entries_.data(); }
  const Entry* end() const { return entries_.data() + entries_.size(); }

  // The Proxy-Wasm map format (wasm/pairs.h).
  size_t serialized_size() const;
  void serialize_to(char* out) const;  // serialized_size() bytes
  std::string serialize() const;

 private:
  struct Block {
    std::unique_ptr<char[]> bytes;
    size_t cap = 0;
  };
  std::string_view copy(std::string_view s);
  // A view into the kept bytes, moved onto their copy (anything else is copied).
  std::string_view adopt(std::string_view v) {
    const char* p = v.data();
    if (p >= original_.data() && p + v.size() <= original_.data() + original_.size() && !v.empty()) {
      return {kept_ + (p - original_.data()), v.size()};
    }
    return copy(v);
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
  void compact();

  std::vector<Entry> entries_;
  std::vector<Block> blocks_;  // bump storage; views into it never move
  size_t current_ = 0;         // the block being filled
  char* next_ = nullptr;       // its free part
  size_t left_ = 0;
  size_t stored_ = 0;          // bytes handed out since clear(), garbage included
  std::string_view original_;  // what keep() copied, and where the copy is
  const char* kept_ = nullptr;
};

}  // namespace wg::wasm

#include "http/header_map.h"

#include <algorithm>
#include <iterator>
#include <cstdint>
#include <cstring>

namespace wg::http {

namespace {
constexpr size_t kBlockSize = 4096;
constexpr size_t kFirstEntries = 32;
// Storage kept across requests; a map that once held more gives it back.
constexpr size_t kKeepAcrossRequests = 64 * 1024;
// Replacing a header again and again leaves its old values behind: past
// this much storage, and four times what the entries use, the live entries
// are copied into fresh storage.
constexpr size_t kCompactAfter = 256 * 1024;

// Names and values a filter adds are mostly a few bytes: copied inline
// rather than through a memcpy call.
inline void copy_bytes(char* dst, std::string_view src) {
  const size_t n = src.size();
  const char* s = src.data();
  if (n >= 8 && n <= 16) {
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n > 16) {
    std::memcpy(dst, s, n);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else if (n > 0) {  // 1 to 3 bytes: first, middle, last
    dst[0] = s[0];
    dst[n / 2] = s[n / 2];
    dst[n - 1] = s[n - 1];
  }
}

}  // namespace

void HeaderMap::clear_used() {
  size_ = 0;
  deferred_ = false;
  pseudo_changed_ = false;
  if (cap_ > 1024) {
    items_.reset();
    cap_ = 0;
  }
  if (block_bytes_ > kKeepAcrossRequests) {
    blocks_.clear();
    block_bytes_ = 0;
  }
  current_ = 0;
  next_ = blocks_.empty() ? nullptr : blocks_[0].bytes.get();
  left_ = blocks_.empty() ? 0 : blocks_[0].cap;
  stored_ = 0;
  original_ = {};
  kept_ = nullptr;
}

void HeaderMap::grow() {
  size_t cap = cap_ == 0 ? kFirstEntries : cap_ * 2;
  auto items = std::make_unique<Entry[]>(cap);
  std::copy(items_.get(), items_.get() + size_, items.get());
  items_ = std::move(items);
  cap_ = cap;
}

// The current block is full: the next one that fits, or a new one.
char* HeaderMap::allocate_slow(size_t n) {
  size_t i = blocks_.empty() ? 0 : current_ + 1;
  while (i < blocks_.size() && blocks_[i].cap < n) ++i;
  if (i == blocks_.size()) {
    Block b;
    b.cap = std::max(kBlockSize, n);
    b.bytes = std::make_unique<char[]>(b.cap);
    block_bytes_ += b.cap;
    blocks_.push_back(std::move(b));
  }
  current_ = i;
  next_ = blocks_[i].bytes.get() + n;
  left_ = blocks_[i].cap - n;
  return blocks_[i].bytes.get();
}

std::string_view HeaderMap::copy(std::string_view s) {
  if (s.empty()) return {};
  char* p = allocate(s.size());
  std::memcpy(p, s.data(), s.size());
  return {p, s.size()};
}

void HeaderMap::keep(std::string_view bytes) {
  original_ = bytes;
  kept_ = copy(bytes).data();
}

void HeaderMap::push_parsed(const Header* headers, size_t n, bool skip_host) {
  while (cap_ < size_ + n) grow();
  Entry* out = items_.get() + size_;
  // Every parsed view lies inside the kept bytes: each moves by the same
  // distance onto the copy.
  const std::ptrdiff_t shift = kept_ - original_.data();
  for (size_t i = 0; i < n; ++i) {
    const Header& h = headers[i];
    if (h.hop_by_hop || (skip_host && h.id == HeaderId::Host)) continue;
    *out++ = {{h.name.data() + shift, h.name.size()}, {h.value.data() + shift, h.value.size()}, h.id, false};
  }
  size_ = static_cast<size_t>(out - items_.get());
}

void HeaderMap::defer(std::string_view bytes, const Header* headers, size_t n, bool skip_host, const Pseudo* pseudo,
                      size_t num_pseudo) {
  defer_head(bytes, headers, n, skip_host);
  num_pseudo_ = std::min(num_pseudo, std::size(pseudo_));
  for (size_t i = 0; i < num_pseudo_; ++i) {
    pseudo_[i].name = pseudo[i].name;
    pseudo_[i].value = pseudo[i].value;
    pseudo_literal_[i] = pseudo[i].literal;
  }
}

size_t HeaderMap::deferred_count() const {
  // Branch-free: it runs for every headers callback of a filter.
  size_t n = num_pseudo_;
  const unsigned skip = skip_host_;
  for (size_t i = 0; i < deferred_n_; ++i) {
    const Header& h = deferred_headers_[i];
    n += !(static_cast<unsigned>(h.hop_by_hop) | (skip & static_cast<unsigned>(h.id == HeaderId::Host)));
  }
  return n;
}

// The head goes in as keep() and push_parsed() would have put it, before
// the entries added meanwhile.
void HeaderMap::materialize_now() {
  deferred_ = false;
  const size_t added = size_;
  const size_t head = deferred_count();
  while (cap_ < head + added) grow();
  std::move_backward(items_.get(), items_.get() + added, items_.get() + head + added);
  size_ = 0;
  keep(deferred_bytes_);
  for (size_t i = 0; i < num_pseudo_; ++i) {
    if (pseudo_literal_[i]) {
      push_literal(pseudo_[i].name, pseudo_[i].value);
    } else {
      push_pseudo(pseudo_[i].name, pseudo_[i].value);
    }
  }
  push_parsed(deferred_headers_, deferred_n_, skip_host_);
  size_ = head + added;
}

void HeaderMap::add(std::string_view name, std::string_view value, HeaderId id) {
  note_name(name);
  // One allocation for both.
  char* p = allocate(name.size() + value.size());
  copy_bytes(p, name);
  copy_bytes(p + name.size(), value);
  push({{p, name.size()}, {p + name.size(), value.size()}, id, false});
  if (stored_ > kCompactAfter) compact();
}

void HeaderMap::add_line(std::string_view name, std::string_view value, HeaderId id) {
  note_name(name);
  char* p = allocate(name.size() + value.size() + 4);
  copy_bytes(p, name);
  char* v = p + name.size();
  v[0] = ':';
  v[1] = ' ';
  copy_bytes(v + 2, value);
  v[2 + value.size()] = '\r';
  v[3 + value.size()] = '\n';
  push({{p, name.size()}, {v + 2, value.size()}, id, false, true});
  if (stored_ > kCompactAfter) compact();
}

void HeaderMap::replace(std::string_view name, std::string_view value) {
  materialize();
  note_name(name);
  bool replaced = false;
  size_t out = 0;
  for (size_t i = 0; i < size_; ++i) {
    if (iequals(items_[i].name, name)) {
      if (replaced) continue;  // later duplicates go
      items_[i].value = copy(value);
      items_[i].wire_line = false;  // the value moved away from the name
      replaced = true;
    }
    items_[out++] = items_[i];
  }
  size_ = out;
  if (!replaced) {
    add(name, value);
    return;
  }
  if (stored_ > kCompactAfter) compact();
}

void HeaderMap::remove(std::string_view name) {
  materialize();
  note_name(name);
  size_t out = 0;
  for (size_t i = 0; i < size_; ++i) {
    if (!iequals(items_[i].name, name)) items_[out++] = items_[i];
  }
  size_ = out;
}

void HeaderMap::assign(const HeaderList& list) {
  clear();
  pseudo_changed_ = true;  // whatever was there is gone
  for (const auto& [k, v] : list) add(k, v);
}

size_t HeaderMap::add_field_lines(std::string_view text) {
  size_t skipped = 0;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      ++skipped;
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    add(line.substr(0, colon), value);
  }
  return skipped;
}

// Copies the live entries into fresh storage once garbage dominates.
void HeaderMap::compact() {
  size_t live = 0;
  for (const Entry& e : *this) live += e.name.size() + e.value.size();
  if (stored_ <= 4 * live) return;
  std::vector<Block> old;
  old.swap(blocks_);
  block_bytes_ = 0;
  current_ = 0;
  next_ = nullptr;
  left_ = 0;
  stored_ = 0;
  original_ = {};
  kept_ = nullptr;
  for (size_t i = 0; i < size_; ++i) {
    items_[i].name = copy(items_[i].name);
    items_[i].value = copy(items_[i].value);
    items_[i].wire_line = false;
  }
}

const HeaderMap::Entry* HeaderMap::find(std::string_view name) const {
  if (deferred_) {
    for (size_t i = 0; i < num_pseudo_; ++i) {
      if (pseudo_[i].name.size() == name.size() && iequals(pseudo_[i].name, name)) return &pseudo_[i];
    }
    for (size_t i = 0; i < deferred_n_; ++i) {
      const Entry& e = deferred_headers_[i];
      if (visible(e) && e.name.size() == name.size() && iequals(e.name, name)) return &e;
    }
  }
  for (const Entry& e : *this) {
    if (e.name.size() == name.size() && iequals(e.name, name)) return &e;
  }
  return nullptr;
}

std::string_view HeaderMap::get_exact(std::string_view name) const {
  if (deferred_) {
    for (size_t i = 0; i < num_pseudo_; ++i) {
      if (pseudo_[i].name == name) return pseudo_[i].value;
    }
    for (size_t i = 0; i < deferred_n_; ++i) {
      if (visible(deferred_headers_[i]) && deferred_headers_[i].name == name) return deferred_headers_[i].value;
    }
  }
  for (const Entry& e : *this) {
    if (e.name == name) return e.value;
  }
  return {};
}

}  // namespace wg::http

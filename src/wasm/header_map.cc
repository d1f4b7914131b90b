#include "wasm/header_map.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace wg::wasm {

namespace {
constexpr size_t kBlockSize = 4096;
// Storage kept across requests; a map that once held more gives it back.
constexpr size_t kKeepAcrossRequests = 64 * 1024;
// Replacing a header again and again leaves its old values behind: past
// this much storage, and four times what the entries use, the live entries
// are copied into fresh storage.
constexpr size_t kCompactAfter = 256 * 1024;

void put32(char*& out, uint32_t v) {
  std::memcpy(out, &v, 4);
  out += 4;
}
}  // namespace

void HeaderMap::clear() {
  entries_.clear();
  size_t total = 0;
  for (const Block& b : blocks_) total += b.cap;
  if (total > kKeepAcrossRequests) blocks_.clear();
  current_ = 0;
  next_ = blocks_.empty() ? nullptr : blocks_[0].bytes.get();
  left_ = blocks_.empty() ? 0 : blocks_[0].cap;
  stored_ = 0;
  original_ = {};
  kept_ = nullptr;
}

// The current block is full: the next one that fits, or a new one.
char* HeaderMap::allocate_slow(size_t n) {
  size_t i = blocks_.empty() ? 0 : current_ + 1;
  while (i < blocks_.size() && blocks_[i].cap < n) ++i;
  if (i == blocks_.size()) {
    Block b;
    b.cap = std::max(kBlockSize, n);
    b.bytes = std::make_unique<char[]>(b.cap);
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

void HeaderMap::push_parsed(const http::Header* headers, size_t n, bool skip_host) {
  entries_.reserve(entries_.size() + n);
  for (size_t i = 0; i < n; ++i) {
    const http::Header& h = headers[i];
    if (h.hop_by_hop || (skip_host && h.id == http::HeaderId::Host)) continue;
    entries_.push_back({adopt(h.name), adopt(h.value), h.id, false});
  }
}

void HeaderMap::push_pseudo(std::string_view name, std::string_view value) {
  entries_.push_back({name, adopt(value), http::HeaderId::Other, false});
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  entries_.push_back({copy(name), copy(value), http::classify_header(name), false});
  if (stored_ > kCompactAfter) compact();
}

void HeaderMap::replace(std::string_view name, std::string_view value) {
  bool replaced = false;
  size_t out = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (http::iequals(entries_[i].name, name)) {
      if (replaced) continue;  // later duplicates go
      entries_[i].value = copy(value);
      replaced = true;
    }
    entries_[out++] = entries_[i];
  }
  entries_.resize(out);
  if (!replaced) {
    add(name, value);
    return;
  }
  if (stored_ > kCompactAfter) compact();
}

void HeaderMap::remove(std::string_view name) {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& e) { return http::iequals(e.name, name); }),
                 entries_.end());
}

void HeaderMap::assign(const HeaderList& list) {
  clear();
  for (const auto& [k, v] : list) add(k, v);
}

// Copies the live entries into fresh storage once garbage dominates.
void HeaderMap::compact() {
  size_t live = 0;
  for (const Entry& e : entries_) live += e.name.size() + e.value.size();
  if (stored_ <= 4 * live) return;
  std::vector<Block> old;
  old.swap(blocks_);
  current_ = 0;
  next_ = nullptr;
  left_ = 0;
  stored_ = 0;
  for (Entry& e : entries_) {
    e.name = copy(e.name);
    e.value = copy(e.value);
  }
}

const HeaderMap::Entry* HeaderMap::find(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name.size() == name.size() && http::iequals(e.name, name)) return &e;
  }
  return nullptr;
}

std::string_view HeaderMap::get_exact(std::string_view name) const {
  for (const Entry& e : entries_) {
    if (e.name == name) return e.value;
  }
  return {};
}

size_t HeaderMap::serialized_size() const {
  size_t n = 4;
  for (const Entry& e : entries_) n += 8 + e.name.size() + 1 + e.value.size() + 1;
  return n;
}

void HeaderMap::serialize_to(char* out) const {
  put32(out, static_cast<uint32_t>(entries_.size()));
  for (const Entry& e : entries_) {
    put32(out, static_cast<uint32_t>(e.name.size()));
    put32(out, static_cast<uint32_t>(e.value.size()));
  }
  for (const Entry& e : entries_) {
    if (!e.name.empty()) std::memcpy(out, e.name.data(), e.name.size());
    out += e.name.size();
    *out++ = '\0';
    if (!e.value.empty()) std::memcpy(out, e.value.data(), e.value.size());
    out += e.value.size();
    *out++ = '\0';
  }
}

std::string HeaderMap::serialize() const {
  std::string s(serialized_size(), '\0');
  serialize_to(s.data());
  return s;
}

}  // namespace wg::wasm

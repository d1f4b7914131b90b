#include "wasm/pairs.h"

#include <cstdint>
#include <cstring>

namespace wg::wasm {

namespace {
void put32(char*& out, uint32_t v) {
  std::memcpy(out, &v, 4);
  out += 4;
}

// Copies a header name lower-cased: filters get HTTP/2's lower-case names,
// as Envoy hands them, whatever the client's spelling (which stays on the
// wire). Branch-free per byte, so it costs about what the memcpy did.
void put_lower(char* out, std::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    out[i] = static_cast<char>(c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
  }
}
}  // namespace


std::string serialize_pairs(const HeaderList& list) {
  std::string out;
  auto put32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(static_cast<uint32_t>(list.size()));
  for (const auto& [k, v] : list) {
    put32(static_cast<uint32_t>(k.size()));
    put32(static_cast<uint32_t>(v.size()));
  }
  for (const auto& [k, v] : list) {
    out.append(k);
    out.push_back('\0');
    out.append(v);
    out.push_back('\0');
  }
  return out;
}

bool parse_pairs(std::string_view data, HeaderList* out) {
  out->clear();
  auto fail = [out] {
    out->clear();
    return false;
  };
  if (data.empty()) return true;
  if (data.size() < 4) return fail();
  uint32_t n;
  std::memcpy(&n, data.data(), 4);
  if (n > 1024 || 4 + static_cast<uint64_t>(n) * 8 > data.size()) return fail();
  size_t pos = 4 + static_cast<size_t>(n) * 8;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t kl, vl;
    std::memcpy(&kl, data.data() + 4 + i * 8, 4);
    std::memcpy(&vl, data.data() + 8 + i * 8, 4);
    if (static_cast<uint64_t>(pos) + kl + 1 + vl + 1 > data.size()) return fail();
    std::string k(data.substr(pos, kl));
    pos += kl + 1;
    std::string v(data.substr(pos, vl));
    pos += vl + 1;
    out->emplace_back(std::move(k), std::move(v));
  }
  return true;
}

size_t serialized_size(const http::HeaderMap& m) {
  size_t n = 4;
  for (const http::Header& e : m) n += 8 + e.name.size() + 1 + e.value.size() + 1;
  return n;
}

void serialize_to(const http::HeaderMap& m, char* out) {
  put32(out, static_cast<uint32_t>(m.size()));
  for (const http::Header& e : m) {
    put32(out, static_cast<uint32_t>(e.name.size()));
    put32(out, static_cast<uint32_t>(e.value.size()));
  }
  for (const http::Header& e : m) {
    put_lower(out, e.name);
    out += e.name.size();
    *out++ = '\0';
    if (!e.value.empty()) std::memcpy(out, e.value.data(), e.value.size());
    out += e.value.size();
    *out++ = '\0';
  }
}

std::string serialize(const http::HeaderMap& m) {
  std::string s(serialized_size(m), '\0');
  serialize_to(m, s.data());
  return s;
}


}  // namespace wg::wasm

#include "wasm/header_name_cache.h"

#include <cstring>

namespace wg::wasm {

void HeaderNameCache::put(std::string_view name, http::HeaderId id) {
  if (name.size() > kMaxName) return;
  Slot& s = slots_[name.size() % kSlots];
  s.len = static_cast<uint8_t>(name.size());
  s.id = id;
  std::memcpy(s.bytes, name.data(), name.size());
}

// Whether a and b (n bytes each, sizeof(W) <= n <= 2 * sizeof(W)) are equal:
// their first and last words, which overlap, cover all n bytes.
template <class W>
static bool same_ends(const char* a, const char* b, size_t n) {
  W x1, y1, x2, y2;
  std::memcpy(&x1, a, sizeof(W));
  std::memcpy(&y1, b, sizeof(W));
  std::memcpy(&x2, a + n - sizeof(W), sizeof(W));
  std::memcpy(&y2, b + n - sizeof(W), sizeof(W));
  return ((x1 ^ y1) | (x2 ^ y2)) == 0;
}

// Equal lengths (b.size() <= kMaxName): up to 16 bytes compare without a loop.
bool HeaderNameCache::same_bytes(const char* a, std::string_view b) {
  const size_t n = b.size();
  if (n >= 8 && n <= 16) return same_ends<uint64_t>(a, b.data(), n);
  if (n >= 4 && n < 8) return same_ends<uint32_t>(a, b.data(), n);
  return std::memcmp(a, b.data(), n) == 0;
}

}  // namespace wg::wasm

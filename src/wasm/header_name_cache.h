// Header names a filter adds, remembered per Wasm instance.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace wg::wasm {

// Header names a filter adds are the same few on every request. This
// remembers the last few that passed the name check, with their HeaderId,
// so adding one again costs a compare instead of a check and a
// classification. One per instance (no locking).
class HeaderNameCache {
 public:
  static constexpr size_t kMaxName = 30;
  // Whether name is remembered; *id is then its HeaderId.
  bool find(std::string_view name, http::HeaderId* id) const {
    if (name.size() > kMaxName) return false;
    const Slot& s = slots_[name.size() % kSlots];
    if (s.len != name.size() || !same_bytes(s.bytes, name)) return false;
    *id = s.id;
    return true;
  }
  // Remembers a name that passed the check (longer ones are not kept).
  void put(std::string_view name, http::HeaderId id);

 private:
  static constexpr size_t kSlots = 4;  // by length: a filter's few names rarely share one
  struct Slot {
    uint8_t len = 0xff;  // never a length asked for
    http::HeaderId id = http::HeaderId::Other;
    char bytes[kMaxName];
  };
  static bool same_bytes(const char* a, std::string_view b);
  Slot slots_[kSlots];
};

}  // namespace wg::wasm

#include "config/uuid.h"

#include <openssl/sha.h>

#include <array>
#include <cstdint>

namespace wg::config {
namespace {

constexpr std::string_view kKongRootNamespace = "fd02801f-0957-4a15-a55a-c8d9606f30b5";

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : hex(s[i]) < 0) return false;
  }
  return true;
}

std::string uuid_v5(std::string_view namespace_uuid, std::string_view name) {
  std::string input;
  input.reserve(16 + name.size());
  for (size_t i = 0; i + 1 < namespace_uuid.size(); ++i) {
    if (namespace_uuid[i] == '-') continue;
    input.push_back(static_cast<char>(hex(namespace_uuid[i]) * 16 + hex(namespace_uuid[i + 1])));
    ++i;
  }
  input.append(name);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kDigits[digest[i] >> 4]);
    out.push_back(kDigits[digest[i] & 0xf]);
  }
  return out;
}

std::string entity_uuid(std::string_view entity_type, std::string_view key) {
  return uuid_v5(uuid_v5(kKongRootNamespace, entity_type), key);
}

}  // namespace wg::config

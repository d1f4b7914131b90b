#include "config/credentials.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace wg::config {

std::string basicauth_password_hash(std::string_view consumer_id, std::string_view password) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
            EVP_DigestUpdate(ctx, consumer_id.data(), consumer_id.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, digest, nullptr) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("SHA-1 failed");
  static const char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA_DIGEST_LENGTH, '0');
  for (size_t i = 0; i < SHA_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string random_secret() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for an hmac-auth secret");
  unsigned char text[33];
  EVP_EncodeBlock(text, bytes, sizeof bytes);  // 24 bytes: 32 characters, no padding
  std::string out(reinterpret_cast<const char*>(text), 32);
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

}  // namespace wg::config

#include "plugins/jose.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <array>
#include <memory>

namespace wg::plugins::jose {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

const EVP_MD* digest_of(Alg a) {
  switch (a) {
    case Alg::HS256: case Alg::RS256: case Alg::ES256: case Alg::PS256: return EVP_sha256();
    case Alg::HS384: case Alg::RS384: case Alg::ES384: case Alg::PS384: return EVP_sha384();
    case Alg::HS512: case Alg::RS512: case Alg::ES512: case Alg::PS512: return EVP_sha512();
    default: return nullptr;  // EdDSA hashes internally
  }
}

// The byte size of r and s in an ES* signature (RFC 7518 §3.4).
size_t ecdsa_size(Alg a) { return a == Alg::ES256 ? 32 : a == Alg::ES384 ? 48 : 66; }

bool is_pss(Alg a) { return a == Alg::PS256 || a == Alg::PS384 || a == Alg::PS512; }
bool is_ecdsa(Alg a) { return a == Alg::ES256 || a == Alg::ES384 || a == Alg::ES512; }

bool verify_hmac(Alg alg, std::string_view input, std::string_view signature, std::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(digest_of(alg), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len) == nullptr) {
    return false;
  }
  return signature.size() == len && CRYPTO_memcmp(mac, signature.data(), len) == 0;
}

// One DER INTEGER for an unsigned big-endian number.
void der_integer(std::string_view n, std::string* out) {
  while (n.size() > 1 && n[0] == '\0') n.remove_prefix(1);
  bool pad = (static_cast<unsigned char>(n[0]) & 0x80) != 0;
  out->push_back(0x02);
  out->push_back(static_cast<char>(n.size() + (pad ? 1 : 0)));  // at most 67: short form
  if (pad) out->push_back('\0');
  out->append(n);
}

}  // namespace

bool base64url_decode(std::string_view in, std::string* out) {
  size_t len = in.find('=');
  if (len == std::string_view::npos) len = in.size();
  if (len % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    int v = sextet(in[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string base64url_encode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3f]);
  return out;
}

Alg parse_alg(std::string_view name) {
  static constexpr std::array<std::string_view, 13> kNames = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                                              "RS512", "ES256", "ES384", "ES512", "PS256",
                                                              "PS384", "PS512", "EdDSA"};
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Alg>(i);
  }
  return Alg::Unknown;
}

bool is_hmac(Alg a) { return a == Alg::HS256 || a == Alg::HS384 || a == Alg::HS512; }

bool ecdsa_raw_to_der(std::string_view raw, size_t size, std::string* der) {
  if (raw.size() != 2 * size) return false;
  std::string body;
  der_integer(raw.substr(0, size), &body);
  der_integer(raw.substr(size), &body);
  der->push_back(0x30);
  // P-521's sequence can pass 127 bytes: DER's long form then.
  if (body.size() > 127) der->push_back(static_cast<char>(0x81));
  der->push_back(static_cast<char>(body.size()));
  der->append(body);
  return true;
}

bool verify(Alg alg, std::string_view input, std::string_view signature, std::string_view secret,
            const config::PublicKey& key) {
  if (alg == Alg::Unknown) return false;
  if (is_hmac(alg)) return verify_hmac(alg, input, signature, secret);
  if (!key) return false;
  std::string der;
  if (is_ecdsa(alg)) {
    if (!ecdsa_raw_to_der(signature, ecdsa_size(alg), &der)) return false;
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, digest_of(alg), nullptr, key.get()) != 1) return false;
  if (is_pss(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace wg::plugins::jose

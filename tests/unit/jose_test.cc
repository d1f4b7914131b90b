// The jwt plugin's JOSE helpers: base64url as nginx decodes it, the JOSE
// ECDSA signature form, and verification against OpenSSL's own signatures.
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config/pem_key.h"
#include "plugins/jose.h"

namespace jose = wg::plugins::jose;

namespace {

std::string decode(std::string_view in, bool* ok) {
  std::string out;
  *ok = jose::base64url_decode(in, &out);
  return out;
}

// An ECDSA DER signature as JOSE's r || s (the reverse of ecdsa_raw_to_der).
std::string der_to_raw(const std::string& der, size_t size) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string raw(2 * size, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(size));
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data() + size), static_cast<int>(size));
  ECDSA_SIG_free(sig);
  return raw;
}

std::string sign(EVP_PKEY* key, const EVP_MD* md, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, md, nullptr, key);
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  EVP_DigestSign(ctx, nullptr, &len, in, data.size());
  std::string out(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(out.data()), &len, in, data.size());
  out.resize(len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

}  // namespace

TEST(Base64url, DecodesAsNginx) {
  bool ok = false;
  EXPECT_EQ(decode("eyJhbGciOiJIUzI1NiJ9", &ok), R"({"alg":"HS256"})");
  EXPECT_TRUE(ok);
  EXPECT_EQ(decode("_-8", &ok), "\xff\xef");  // the url alphabet
  EXPECT_TRUE(ok);
  EXPECT_EQ(decode("YQ==", &ok), "a");  // padding is optional and ends the input
  EXPECT_TRUE(ok);
  EXPECT_EQ(decode("YQ", &ok), "a");
  EXPECT_TRUE(ok);
  EXPECT_EQ(decode("", &ok), "");
  EXPECT_TRUE(ok);
  decode("a+b/", &ok);  // standard base64's symbols are not base64url
  EXPECT_FALSE(ok);
  decode("abcde", &ok);  // a lone 6-bit group
  EXPECT_FALSE(ok);
  decode("ab.c", &ok);
  EXPECT_FALSE(ok);
}

TEST(Base64url, EncodesWithoutPadding) {
  EXPECT_EQ(jose::base64url_encode("a"), "YQ");
  EXPECT_EQ(jose::base64url_encode("\xff\xef"), "_-8");
  for (std::string s : {"", "x", "xy", "xyz", "hello world!"}) {
    std::string back;
    ASSERT_TRUE(jose::base64url_decode(jose::base64url_encode(s), &back));
    EXPECT_EQ(back, s);
  }
}

TEST(Jose, AlgorithmNames) {
  EXPECT_EQ(jose::parse_alg("HS256"), jose::Alg::HS256);
  EXPECT_EQ(jose::parse_alg("EdDSA"), jose::Alg::EdDSA);
  EXPECT_EQ(jose::parse_alg("PS512"), jose::Alg::PS512);
  EXPECT_EQ(jose::parse_alg("none"), jose::Alg::Unknown);
  EXPECT_EQ(jose::parse_alg("hs256"), jose::Alg::Unknown);
  EXPECT_TRUE(jose::is_hmac(jose::Alg::HS384));
  EXPECT_FALSE(jose::is_hmac(jose::Alg::RS256));
}

TEST(Jose, EcdsaRawToDer) {
  std::string der;
  // r = 1 (leading zeros dropped), s = 0x80.. (a zero byte keeps it positive).
  std::string raw(4, '\0');
  raw[1] = 1;
  raw[2] = static_cast<char>(0x80);
  ASSERT_TRUE(jose::ecdsa_raw_to_der(raw, 2, &der));
  EXPECT_EQ(der, std::string("\x30\x08\x02\x01\x01\x02\x03\x00\x80\x00", 10));
  EXPECT_FALSE(jose::ecdsa_raw_to_der(raw, 3, &der));  // not 2 * size bytes
  // P-521: 66-byte halves with the high bit set make a sequence over 127 bytes.
  std::string big(132, static_cast<char>(0xff));
  der.clear();
  ASSERT_TRUE(jose::ecdsa_raw_to_der(big, 66, &der));
  EXPECT_EQ(static_cast<unsigned char>(der[1]), 0x81);
  EXPECT_EQ(static_cast<unsigned char>(der[2]), 2 * (2 + 67));
  EXPECT_EQ(der.size(), 3u + 2 * (2 + 67));
}

TEST(Jose, HmacVerifies) {
  // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
  const unsigned char mac[] = {0xf7, 0xbc, 0x83, 0xf4, 0x30, 0x53, 0x84, 0x24, 0xb1, 0x32, 0x98,
                               0xe6, 0xaa, 0x6f, 0xb1, 0x43, 0xef, 0x4d, 0x59, 0xa1, 0x49, 0x46,
                               0x17, 0x59, 0x97, 0x47, 0x9d, 0xbc, 0x2d, 0x1a, 0x3c, 0xd8};
  std::string sig(reinterpret_cast<const char*>(mac), sizeof mac);
  std::string msg = "The quick brown fox jumps over the lazy dog";
  EXPECT_TRUE(jose::verify(jose::Alg::HS256, msg, sig, "key", nullptr));
  EXPECT_FALSE(jose::verify(jose::Alg::HS256, msg, sig, "kez", nullptr));
  EXPECT_FALSE(jose::verify(jose::Alg::HS384, msg, sig, "key", nullptr));
  EXPECT_FALSE(jose::verify(jose::Alg::HS256, msg, sig.substr(0, 31), "key", nullptr));
}

TEST(Jose, EcdsaAndEddsaVerifyAgainstParsedPem) {
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  ASSERT_NE(ec, nullptr);
  wg::config::PublicKey key = wg::config::parse_pem_key(public_pem(ec));
  ASSERT_TRUE(key);
  std::string raw = der_to_raw(sign(ec, EVP_sha384(), "header.claims"), 48);
  EXPECT_TRUE(jose::verify(jose::Alg::ES384, "header.claims", raw, "", key));
  EXPECT_FALSE(jose::verify(jose::Alg::ES384, "header.claimz", raw, "", key));
  EXPECT_FALSE(jose::verify(jose::Alg::ES256, "header.claims", raw, "", key));  // wrong size for ES256
  EXPECT_FALSE(jose::verify(jose::Alg::RS384, "header.claims", raw, "", key));  // wrong key type
  EVP_PKEY_free(ec);

  EVP_PKEY* ed = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(ed, nullptr);
  wg::config::PublicKey edkey = wg::config::parse_pem_key(public_pem(ed));
  std::string edsig = sign(ed, nullptr, "a.b");
  EXPECT_TRUE(jose::verify(jose::Alg::EdDSA, "a.b", edsig, "", edkey));
  EXPECT_FALSE(jose::verify(jose::Alg::EdDSA, "a.c", edsig, "", edkey));
  EXPECT_FALSE(jose::verify(jose::Alg::EdDSA, "a.b", edsig, "", nullptr));
  EVP_PKEY_free(ed);
}

TEST(PemKey, RefusesWhatIsNoKey) {
  EXPECT_FALSE(wg::config::parse_pem_key(""));
  EXPECT_FALSE(wg::config::parse_pem_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  EXPECT_FALSE(wg::config::parse_pem_key(
      "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"));
}

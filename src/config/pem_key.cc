#include "config/pem_key.h"

#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace wg::config {

PublicKey parse_pem_key(std::string_view pem) {
  EVP_PKEY* pkey = nullptr;
  // Selection 0: public keys, private keys and their type-specific forms
  // ("BEGIN RSA PUBLIC KEY") alike, as resty.openssl's pkey.new accepts.
  OSSL_DECODER_CTX* ctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, nullptr, 0, nullptr, nullptr);
  if (ctx == nullptr) return nullptr;
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  bool ok = OSSL_DECODER_from_data(ctx, &data, &len) == 1;
  OSSL_DECODER_CTX_free(ctx);
  if (!ok || pkey == nullptr) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  // Domain parameters alone ("BEGIN EC PARAMETERS") decode too, but have
  // no public key to write out: not a key.
  if (i2d_PUBKEY(pkey, nullptr) <= 0) {
    EVP_PKEY_free(pkey);
    return nullptr;
  }
  return PublicKey(pkey, EVP_PKEY_free);
}

}  // namespace wg::config

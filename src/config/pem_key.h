// A key written in PEM, parsed with OpenSSL: what Kong's jwt_secrets take as
// `rsa_public_key` (public or private, any type OpenSSL decodes: RSA, EC,
// Ed25519, Ed448). Parsed once when a config is built and shared read-only
// by every worker afterwards (OpenSSL's verify calls take a const key).
#pragma once

#include <memory>
#include <string_view>

struct evp_pkey_st;

namespace wg::config {

using PublicKey = std::shared_ptr<evp_pkey_st>;

// The key, or null when the text holds none.
PublicKey parse_pem_key(std::string_view pem);

}  // namespace wg::config

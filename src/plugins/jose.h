// The pieces of JOSE (RFC 7515/7518) the jwt plugin needs: base64url as
// nginx decodes it (Kong's jwt_parser), the JWS algorithms, and signature
// verification with OpenSSL over a key parsed once per config.
#pragma once

#include <string>
#include <string_view>

#include "config/pem_key.h"

namespace wg::plugins::jose {

// Decodes base64url (RFC 4648 §5) as ngx.decode_base64url does: padding is
// optional and ends the input, any other character outside the alphabet
// fails, and so does a length that leaves a lone 6-bit group. Appends to *out.
bool base64url_decode(std::string_view in, std::string* out);
std::string base64url_encode(std::string_view in);  // no padding

enum class Alg { HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA, Unknown };

Alg parse_alg(std::string_view name);  // Unknown when not one of Kong's thirteen
bool is_hmac(Alg a);

// A JOSE ECDSA signature (r || s, each `size` bytes) as the DER
// ECDSA-Sig-Value OpenSSL verifies. False when raw is not 2 * size bytes.
bool ecdsa_raw_to_der(std::string_view raw, size_t size, std::string* der);

// Checks `signature` over `input`: HS* against `secret` (constant time),
// the others against `key`. False on any mismatch, including a key of the
// wrong type or a signature of the wrong length.
bool verify(Alg alg, std::string_view input, std::string_view signature, std::string_view secret,
            const config::PublicKey& key);

}  // namespace wg::plugins::jose

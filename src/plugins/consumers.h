// The consumers of one config, as authentication plugins look them up:
// by id, by username, by key-auth key, and their ACL groups. Built once per
// config, shared by every plugin of it, read-only afterwards.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/entities.h"
#include "config/pem_key.h"
#include "pipeline/exchange.h"

namespace wg::plugins {

// A jwt_secret ready to verify with: the key parsed and the base64 form of
// the secret decoded here, once per config, not per request.
struct JwtCredential {
  config::JwtSecret secret;
  std::string decoded_secret;   // the secret base64url-decoded (secret_is_base64)
  bool decodable = false;       // ... when it decodes
  config::PublicKey key;        // rsa_public_key parsed; null when unset
};

// Kong's consumer headers for one consumer and credential (X-Consumer-ID,
// X-Consumer-Custom-ID and X-Consumer-Username when set,
// X-Credential-Identifier), as wire lines built with the config: a request
// authenticated by that credential gets them without a copy
// (http::HeaderMap::push_line).
struct ConsumerLines {
  struct Line {
    uint32_t offset = 0, size = 0, name_size = 0;  // in text
  };
  std::string text;
  Line lines[4];
  uint8_t count = 0;
  std::string_view line(size_t i) const { return std::string_view(text).substr(lines[i].offset, lines[i].size); }
};
ConsumerLines consumer_lines(const config::Consumer& consumer, std::string_view identifier);

class Consumers {
 public:
  explicit Consumers(const config::Declarative& d);

  const config::Consumer* by_id(std::string_view id) const;
  // Kong's `anonymous` setting names a consumer by id or username.
  const config::Consumer* by_id_or_username(std::string_view s) const;
  // The key-auth credential with this key, or null.
  const config::KeyauthCredential* keyauth(std::string_view key) const;
  const config::Consumer& consumer_of(const config::KeyauthCredential& c) const { return consumers_[c.consumer]; }
  // The headers a request authenticated by key-auth credential c carries.
  const ConsumerLines& lines_of(const config::KeyauthCredential& c) const {
    return keyauth_lines_[static_cast<size_t>(&c - keyauth_.data())];
  }
  // The jwt_secret with this key, or null.
  const JwtCredential* jwt(std::string_view key) const;
  const config::Consumer& consumer_of(const JwtCredential& c) const { return consumers_[c.secret.consumer]; }
  // The ACL groups of a consumer, in file order (empty when none).
  const std::vector<std::string>& groups(std::string_view consumer_id) const;

  // basic-auth and hmac-auth credentials by username, or null.
  const config::BasicauthCredential* basicauth(std::string_view username) const;
  const config::HmacauthCredential* hmacauth(std::string_view username) const;
  const config::Consumer& consumer_of(const config::BasicauthCredential& c) const { return consumers_[c.consumer]; }
  const config::Consumer& consumer_of(const config::HmacauthCredential& c) const { return consumers_[c.consumer]; }

 private:
  void index_jwt(const std::vector<config::JwtSecret>& secrets);

  std::vector<config::Consumer> consumers_;
  std::vector<config::KeyauthCredential> keyauth_;
  std::vector<ConsumerLines> keyauth_lines_;  // per keyauth_ entry
  // Looked up by a string_view without building a std::string (key-auth's
  // key, on every request).
  struct ViewHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t> by_id_, by_username_;
  std::unordered_map<std::string, size_t, ViewHash, std::equal_to<>> by_key_;
  std::unordered_map<std::string, std::vector<std::string>> groups_;
  void index_auth_credentials(const config::Declarative& d);
  std::vector<config::BasicauthCredential> basicauth_;
  std::vector<config::HmacauthCredential> hmacauth_;
  std::unordered_map<std::string, size_t> by_basic_username_, by_hmac_username_;
  std::unordered_map<std::string, JwtCredential> jwt_;
};

// Kong's set_consumer: the exchange's consumer and credential, and the
// X-Consumer-ID, X-Consumer-Custom-ID, X-Consumer-Username,
// X-Credential-Identifier and X-Anonymous-Consumer headers sent upstream
// (set when known, removed otherwise; anonymous when there is no credential).
// X-Credential-Identifier is the credential's id unless the plugin names
// another `identifier` (jwt sends the secret's key; basic-auth and hmac-auth, the credential's
// username, as Kong does).
void authenticate(pipeline::Exchange& x, const config::Consumer& consumer, const std::string* credential_id,
                  const std::string* identifier = nullptr);
// The same for a credential whose headers were built with the config
// (lines: consumer_lines(consumer, *credential_id)).
void authenticate(pipeline::Exchange& x, const config::Consumer& consumer, const std::string& credential_id,
                  const ConsumerLines& lines);

}  // namespace wg::plugins

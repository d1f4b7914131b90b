#include "plugins/consumers.h"

#include "plugins/jose.h"

namespace wg::plugins {

Consumers::Consumers(const config::Declarative& d) : consumers_(d.consumers) {
  for (size_t i = 0; i < consumers_.size(); ++i) {
    by_id_[consumers_[i].id] = i;
    if (!consumers_[i].username.empty()) by_username_[consumers_[i].username] = i;
  }
  for (const auto& k : d.keyauth_credentials) {
    if (k.consumer < 0) continue;
    by_key_[k.key] = keyauth_.size();
    keyauth_.push_back(k);
    keyauth_lines_.push_back(consumer_lines(consumers_[k.consumer], k.id));
  }
  index_jwt(d.jwt_secrets);
  for (const auto& a : d.acls) {
    if (a.consumer >= 0) groups_[consumers_[a.consumer].id].push_back(a.group);
  }
  index_auth_credentials(d);
}

void Consumers::index_auth_credentials(const config::Declarative& d) {
  for (const auto& b : d.basicauth_credentials) {
    if (b.consumer < 0) continue;
    by_basic_username_[b.username] = basicauth_.size();
    basicauth_.push_back(b);
  }
  for (const auto& h : d.hmacauth_credentials) {
    if (h.consumer < 0) continue;
    by_hmac_username_[h.username] = hmacauth_.size();
    hmacauth_.push_back(h);
  }
}

const config::BasicauthCredential* Consumers::basicauth(std::string_view username) const {
  auto it = by_basic_username_.find(std::string(username));
  return it == by_basic_username_.end() ? nullptr : &basicauth_[it->second];
}

const config::HmacauthCredential* Consumers::hmacauth(std::string_view username) const {
  auto it = by_hmac_username_.find(std::string(username));
  return it == by_hmac_username_.end() ? nullptr : &hmacauth_[it->second];
}

const config::Consumer* Consumers::by_id(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &consumers_[it->second];
}

const config::Consumer* Consumers::by_id_or_username(std::string_view s) const {
  if (const config::Consumer* c = by_id(s)) return c;
  auto it = by_username_.find(std::string(s));
  return it == by_username_.end() ? nullptr : &consumers_[it->second];
}

const config::KeyauthCredential* Consumers::keyauth(std::string_view key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : &keyauth_[it->second];
}

void Consumers::index_jwt(const std::vector<config::JwtSecret>& secrets) {
  for (const auto& s : secrets) {
    if (s.consumer < 0) continue;
    JwtCredential c{s, {}, false, nullptr};
    c.decodable = jose::base64url_decode(s.secret, &c.decoded_secret);
    // The loader checked the key; a non-HS secret without one fails per
    // token with "Invalid key/secret", as Kong's ES* secrets can.
    if (!s.rsa_public_key.empty() && !jose::is_hmac(jose::parse_alg(s.algorithm))) {
      c.key = config::parse_pem_key(s.rsa_public_key);
    }
    jwt_.emplace(s.key, std::move(c));
  }
}

const JwtCredential* Consumers::jwt(std::string_view key) const {
  auto it = jwt_.find(std::string(key));
  return it == jwt_.end() ? nullptr : &it->second;
}

const std::vector<std::string>& Consumers::groups(std::string_view consumer_id) const {
  static const std::vector<std::string> kNone;
  auto it = groups_.find(std::string(consumer_id));
  return it == groups_.end() ? kNone : it->second;
}

namespace {

// Whether the request already has a header authenticate() sets (a client's
// own X-Consumer-ID, or an earlier auth plugin's): then each is replaced,
// else simply added, one pass over the map instead of one per header.
bool has_consumer_headers(const http::HeaderMap& h) {
  // A deferred request head too (key-auth reads it in access).
  return h.any_field([](const http::Header& e) {
    std::string_view n = e.name;
    if (n.size() < 11 || (n[0] | 0x20) != 'x') return false;  // most names: one compare
    return http::iequals(n.substr(0, 11), "x-consumer-") || http::iequals(n, "x-credential-identifier") ||
           http::iequals(n, "x-anonymous-consumer");
  });
}

// The request has some of the consumer headers already: each is replaced,
// or removed when it has no value now.
void replace_consumer_headers(http::HeaderMap& h, const config::Consumer& consumer, bool anonymous,
                              std::string_view identifier) {
  auto set_or_clear = [&](std::string_view name, std::string_view value) {
    if (value.empty()) {
      h.remove(name);
    } else {
      h.replace(name, value);
    }
  };
  set_or_clear("X-Consumer-ID", consumer.id);
  set_or_clear("X-Consumer-Custom-ID", consumer.custom_id);
  set_or_clear("X-Consumer-Username", consumer.username);
  set_or_clear("X-Credential-Identifier", identifier);
  if (!anonymous) {
    h.remove("X-Anonymous-Consumer");
  } else {
    h.replace("X-Anonymous-Consumer", "true");
  }
}

}  // namespace

ConsumerLines consumer_lines(const config::Consumer& consumer, std::string_view identifier) {
  ConsumerLines out;
  auto add = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    ConsumerLines::Line& l = out.lines[out.count++];
    l.offset = static_cast<uint32_t>(out.text.size());
    l.name_size = static_cast<uint32_t>(name.size());
    out.text.append(name).append(": ").append(value).append("\r\n");
    l.size = static_cast<uint32_t>(out.text.size() - l.offset);
  };
  add("X-Consumer-ID", consumer.id);
  add("X-Consumer-Custom-ID", consumer.custom_id);
  add("X-Consumer-Username", consumer.username);
  add("X-Credential-Identifier", identifier);
  return out;
}

void authenticate(pipeline::Exchange& x, const config::Consumer& consumer, const std::string& credential_id,
                  const ConsumerLines& lines) {
  x.consumer_id = consumer.id;
  x.credential_id = credential_id;
  http::HeaderMap& h = x.request_headers;
  if (has_consumer_headers(h)) return replace_consumer_headers(h, consumer, false, credential_id);
  // None of these names is one the session treats specially (HeaderId::Other).
  for (size_t i = 0; i < lines.count; ++i) h.push_line(lines.line(i), lines.lines[i].name_size, http::HeaderId::Other);
}

void authenticate(pipeline::Exchange& x, const config::Consumer& consumer, const std::string* credential_id,
                  const std::string* identifier) {
  x.consumer_id = consumer.id;
  x.credential_id = credential_id != nullptr ? std::string_view(*credential_id) : std::string_view();
  http::HeaderMap& h = x.request_headers;
  if (!has_consumer_headers(h)) {
    // None of these names is one the session treats specially (HeaderId::Other).
    auto add = [&](std::string_view name, std::string_view value) {
      if (!value.empty()) h.add(name, value, http::HeaderId::Other);
    };
    add("X-Consumer-ID", consumer.id);
    add("X-Consumer-Custom-ID", consumer.custom_id);
    add("X-Consumer-Username", consumer.username);
    add("X-Credential-Identifier", identifier != nullptr ? std::string_view(*identifier) : x.credential_id);
    if (credential_id == nullptr) h.add("X-Anonymous-Consumer", "true", http::HeaderId::Other);
    return;
  }
  replace_consumer_headers(h, consumer, credential_id == nullptr,
                           identifier != nullptr ? std::string_view(*identifier) : x.credential_id);
}

}  // namespace wg::plugins

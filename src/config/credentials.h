// What credentials need while a config loads: basic-auth passwords are
// kept only as Kong stores them (a salted SHA-1), hmac-auth secrets that a
// file leaves out are generated, as Kong does.
#pragma once

#include <string>
#include <string_view>

namespace wg::config {

// Kong's basic-auth hash: lower-case hex SHA-1 of the password followed by
// the consumer's id (the id salts it). The plugin hashes what a client
// sends the same way and compares.
std::string basicauth_password_hash(std::string_view consumer_id, std::string_view password);

// A fresh random secret of 32 URL-safe characters (Kong's random string).
std::string random_secret();

}  // namespace wg::config

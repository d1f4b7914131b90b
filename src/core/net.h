// Address parsing shared by the listeners.
#pragma once

#include <sys/socket.h>

#include <string>

namespace wg::core {

// Parses "ADDR:PORT" ("127.0.0.1:8000", "[::1]:8000", "0.0.0.0:80").
bool parse_listen_address(const std::string& text, sockaddr_storage* out, socklen_t* len);

}  // namespace wg::core

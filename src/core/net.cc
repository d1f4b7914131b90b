#include "core/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace wg::core {

bool parse_listen_address(const std::string& text, sockaddr_storage* out, socklen_t* len) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) return false;
  int port = std::stoi(port_text);
  if (port > 65535) return false;
  std::memset(out, 0, sizeof *out);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(out);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) return false;
    *len = sizeof(sockaddr_in6);
    return true;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(out);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty()) host = "0.0.0.0";
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) return false;
  *len = sizeof(sockaddr_in);
  return true;
}

}  // namespace wg::core

namespace wg::core {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool ignored_flag(const std::string& f) {
  return f == "http2" || f == "reuseport" || f == "deferred" || f == "bind" || f.rfind("ipv6only=", 0) == 0 ||
         f.rfind("so_keepalive=", 0) == 0;
}

}  // namespace

bool parse_listen_list(const std::string& text, std::vector<ListenSpec>* out, std::string* err) {
  out->clear();
  for (const std::string& entry : split(text, ',')) {
    std::vector<std::string> w = words(entry);
    if (w.empty()) {
      *err = "empty entry";
      return false;
    }
    ListenSpec spec;
    spec.address = w[0];
    if (!parse_listen_address(spec.address, &spec.addr, &spec.addr_len)) {
      *err = "invalid address '" + spec.address + "'";
      return false;
    }
    for (size_t i = 1; i < w.size(); ++i) {
      const std::string& f = w[i];
      if (f == "ssl") {
        spec.ssl = true;
      } else if (f.rfind("backlog=", 0) == 0) {
        const std::string n = f.substr(8);
        if (n.empty() || n.size() > 9 || n.find_first_not_of("0123456789") != std::string::npos) {
          *err = "invalid " + f;
          return false;
        }
        spec.backlog = std::stoi(n);
      } else if (ignored_flag(f)) {
        spec.ignored.push_back(f);
      } else {
        *err = "flag '" + f + "' is not supported" + (f == "proxy_protocol" ? " yet" : "");
        return false;
      }
    }
    out->push_back(std::move(spec));
  }
  return true;
}

}  // namespace wg::core

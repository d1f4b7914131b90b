#include "demo/echo_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "core/net.h"
#include "http/chunked.h"
#include "http/parser.h"

namespace wg::demo {
namespace {

void json_escape(std::string& out, std::string_view v) {
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      out.append("?");
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

// Blocking, one thread per connection: this is a demo, not the proxy.
void serve(int fd) {
  std::string buf;
  char tmp[16384];
  http::HeadParser parser;
  http::Head head;
  for (;;) {
    parser.reset();
    http::ParseStatus st;
    while ((st = parser.parse_request(buf.data(), buf.size(), 32768, head)) == http::ParseStatus::Incomplete) {
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    if (st == http::ParseStatus::Error) break;
    std::string body = "{\"message\":\"hello from the wasmgate demo upstream\",\"method\":\"";
    json_escape(body, head.method);
    body += "\",\"path\":\"";
    json_escape(body, head.target);
    body += "\",\"headers\":{";
    for (size_t i = 0; i < head.num_headers; ++i) {
      body += i ? ",\"" : "\"";
      json_escape(body, head.headers[i].name);
      body += "\":\"";
      json_escape(body, head.headers[i].value);
      body += "\"";
    }
    body += "}}\n";
    bool keep = head.keep_alive;
    size_t consumed = head.head_len;
    // Read and drop the request body.
    uint64_t left = head.body == http::BodyKind::Length ? head.content_length : 0;
    http::ChunkedScanner chunked;
    bool is_chunked = head.body == http::BodyKind::Chunked;
    buf.erase(0, consumed);
    for (;;) {
      if (is_chunked) {
        size_t used = 0;
        auto r = chunked.scan(buf.data(), buf.size(), &used);
        buf.erase(0, used);
        if (r == http::ChunkedScanner::Result::Done) break;
        if (r == http::ChunkedScanner::Result::Error) {
          ::close(fd);
          return;
        }
      } else {
        size_t take = buf.size() < left ? buf.size() : static_cast<size_t>(left);
        buf.erase(0, take);
        left -= take;
        if (left == 0) break;
      }
      ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n" + (keep ? "" : "Connection: close\r\n") + "\r\n" + body;
    if (::write(fd, resp.data(), resp.size()) != static_cast<ssize_t>(resp.size()) || !keep) break;
  }
  ::close(fd);
}

}  // namespace

bool start_echo_server(const std::string& addr) {
  sockaddr_storage sa{};
  socklen_t len = 0;
  if (!core::parse_listen_address(addr, &sa, &len)) return false;
  int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 || ::listen(fd, 128) != 0) {
    ::close(fd);
    return false;
  }
  std::thread([fd] {
    for (;;) {
      int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) std::thread(serve, c).detach();
    }
  }).detach();
  return true;
}

}  // namespace wg::demo

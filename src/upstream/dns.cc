#include "upstream/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <cstring>
#include <mutex>

namespace wg::upstream {
namespace {

std::mutex g_mu;
std::string g_servers;

struct Answer {
  bool done = false;
  int status = ARES_SUCCESS;
  int ttl = -1;
  std::vector<ResolvedAddress> addrs;
};

void on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* a = static_cast<Answer*>(arg);
  a->done = true;
  a->status = status;
  if (status != ARES_SUCCESS || result == nullptr) return;
  for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
    ResolvedAddress r;
    std::memcpy(&r.addr, n->ai_addr, n->ai_addrlen);
    r.len = n->ai_addrlen;
    a->addrs.push_back(r);
    if (a->ttl < 0 || n->ai_ttl < a->ttl) a->ttl = n->ai_ttl;
  }
  ares_freeaddrinfo(result);
}

bool literal(const std::string& host, int port, ResolvedAddress* out) {
  *out = ResolvedAddress();
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out->addr);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in);
    return true;
  }
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
  if (inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

void Resolver::set_servers(const std::string& servers) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_servers = servers;
}

bool Resolver::resolve(const std::string& host, int port, std::vector<ResolvedAddress>* out, int* ttl_s,
                       std::string* error) {
  ResolvedAddress lit;
  if (literal(host, port, &lit)) {
    out->push_back(lit);
    *ttl_s = -1;
    return true;
  }
  static std::once_flag init;
  std::call_once(init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_channel channel;
  ares_options opts{};
  opts.timeout = 2000;  // ms per try
  opts.tries = 2;
  if (ares_init_options(&channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) != ARES_SUCCESS) {
    *error = "cannot initialise the resolver";
    return false;
  }
  {
    std::lock_guard<std::mutex> lock(g_mu);
    if (!g_servers.empty() && ares_set_servers_ports_csv(channel, g_servers.c_str()) != ARES_SUCCESS) {
      ares_destroy(channel);
      *error = "invalid --dns-resolver '" + g_servers + "'";
      return false;
    }
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  Answer answer;
  ares_getaddrinfo(channel, host.c_str(), std::to_string(port).c_str(), &hints, on_answer, &answer);
  // Drive the query to completion (bounded by c-ares' own timeouts).
  while (!answer.done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    int n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev) fds[n++] = {socks[i], ev, 0};
    }
    timeval tv{}, max{1, 0};
    timeval* t = ares_timeout(channel, &max, &tv);
    int ms = static_cast<int>(t->tv_sec * 1000 + t->tv_usec / 1000);
    poll(fds, static_cast<nfds_t>(n), ms);
    if (n == 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (int i = 0; i < n; ++i) {
      ares_process_fd(channel, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD,
                      (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  ares_destroy(channel);
  if (answer.status != ARES_SUCCESS || answer.addrs.empty()) {
    *error = std::string("name resolution failed: ") + ares_strerror(answer.status);
    return false;
  }
  *out = std::move(answer.addrs);
  // Answers from /etc/hosts carry no TTL: look again every minute.
  *ttl_s = answer.ttl > 0 ? answer.ttl : 60;
  return true;
}

}  // namespace wg::upstream

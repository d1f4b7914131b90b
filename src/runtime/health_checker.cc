#include "runtime/health_checker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "core/log.h"

namespace wg::runtime {
namespace {

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// Waits for fd to be ready for events until deadline; false on timeout.
bool wait_for(int fd, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = now_ms();
    if (now >= deadline) return false;
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, static_cast<int>(deadline - now));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

void HealthChecker::start() { thread_ = std::thread([this] { run(); }); }

void HealthChecker::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void HealthChecker::run() {
  while (!stop_) {
    auto snap = snapshots_.get();
    const uint64_t now = now_ms();
    // Names past their TTL: ask the main thread to recompile (it owns
    // publishing). Once per snapshot generation.
    if (snap->dns_expires_ms != 0 && now >= snap->dns_expires_ms && dns_asked_for_ != snap->generation) {
      dns_asked_for_ = snap->generation;
      kill(getpid(), SIGUSR1);
    }
    for (const auto& b : snap->balancers) {
      const auto& hc = b->config().healthchecks;
      if (!hc.active_enabled()) continue;
      for (const auto& peer : b->peers()) {
        bool healthy = peer.health->healthy();
        double interval = healthy ? hc.active.healthy_interval_s : hc.active.unhealthy_interval_s;
        if (interval <= 0 || now < peer.health->next_probe_ms) continue;
        peer.health->next_probe_ms = now + static_cast<uint64_t>(interval * 1000);
        probe(b->config(), peer);
        if (stop_) return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void HealthChecker::probe(const config::Upstream& u, const upstream::Peer& peer) {
  const auto& a = u.healthchecks.active;
  const uint64_t deadline = now_ms() + static_cast<uint64_t>(a.timeout_s * 1000);
  auto report = [&](shared::Outcome o, int status) { peer.health->report_active(a, o, status, peer.name); };
  int fd = socket(peer.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&peer.addr), peer.addr_len);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    report(shared::Outcome::TcpFailure, 0);
    return;
  }
  if (!wait_for(fd, POLLOUT, deadline)) {
    close(fd);
    report(shared::Outcome::Timeout, 0);
    return;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    close(fd);
    report(shared::Outcome::TcpFailure, 0);
    return;
  }
  std::string req =
      "GET " + a.http_path + " HTTP/1.0\r\nHost: " + peer.host_header + "\r\nUser-Agent: wasmgate-healthcheck\r\n";
  for (const auto& [name, values] : a.headers) {
    for (const auto& v : values) req += name + ": " + v + "\r\n";
  }
  req += "\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    report(shared::Outcome::TcpFailure, 0);
    return;
  }
  // Only the status line matters.
  char buf[512];
  size_t got = 0;
  while (got < 12) {
    if (!wait_for(fd, POLLIN, deadline)) {
      close(fd);
      report(shared::Outcome::Timeout, 0);
      return;
    }
    ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
    if (n <= 0) {
      close(fd);
      report(shared::Outcome::TcpFailure, 0);
      return;
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  std::string_view line(buf, got);
  int status = 0;
  if (line.compare(0, 5, "HTTP/") == 0 && line.size() >= 12) {
    for (size_t i = 9; i < 12; ++i) status = (line[i] >= '0' && line[i] <= '9') ? status * 10 + (line[i] - '0') : -1000;
  }
  if (status < 100) {
    report(shared::Outcome::TcpFailure, 0);
    return;
  }
  report(shared::Outcome::Success, status);
}

}  // namespace wg::runtime

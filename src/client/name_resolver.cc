#include "client/name_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "core/log.h"
#include "upstream/dns.h"

namespace wg::client {

NameResolver::Shared::~Shared() {
  if (efd >= 0) ::close(efd);
}

NameResolver::NameResolver(core::EventLoop& loop) : loop_(loop), shared_(std::make_shared<Shared>()) {}

NameResolver::~NameResolver() {
  if (shared_->efd >= 0) loop_.remove(shared_->efd);
}

// The address bytes of an IP literal, or empty.
static std::string literal_address(const std::string& name) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, name.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return {};
}

NameResolver::Result NameResolver::resolve(const std::string& name, std::string* address, Completion done) {
  *address = literal_address(name);
  if (!address->empty()) return Result::Now;
  auto it = cache_.find(name);
  if (it != cache_.end() && it->second.expires_ms > loop_.now_ms()) {
    *address = it->second.address;
    return Result::Now;
  }
  if (pending_ >= kMaxPending) return Result::Refused;
  if (shared_->efd < 0) {
    shared_->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shared_->efd < 0 || !loop_.add(shared_->efd, this, EPOLLIN)) {
      WG_LOG(Error, "name resolution: no eventfd: %s", strerror(errno));
      return Result::Refused;
    }
  }
  ++pending_;
  const uint64_t id = next_id_++;
  waiting_.emplace(id, std::move(done));
  std::thread([shared = shared_, id, name] {
    std::vector<upstream::ResolvedAddress> found;
    int ttl = 0;
    std::string error;
    Done d{id, name, {}, 0};
    // (Any port: only the address is used; c-ares refuses service "0".)
    if (upstream::Resolver::resolve(name, 80, &found, &ttl, &error) && !found.empty()) {
      const sockaddr_storage& a = found[0].addr;
      if (a.ss_family == AF_INET) {
        const auto* in4 = reinterpret_cast<const sockaddr_in*>(&a);
        d.address.assign(reinterpret_cast<const char*>(&in4->sin_addr), 4);
      } else if (a.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
        d.address.assign(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
      }
      d.ttl_s = ttl;
    } else {
      WG_LOG(Info, "name resolution: %s did not resolve: %s", name.c_str(), error.c_str());
    }
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->done.push_back(std::move(d));
    uint64_t one = 1;
    ssize_t w = ::write(shared->efd, &one, sizeof one);
    (void)w;  // a full counter still wakes the loop
  }).detach();
  return Result::Later;
}

// Answers arrived: remember them and hand each to whoever asked.
void NameResolver::on_io(uint32_t) {
  uint64_t n;
  while (::read(shared_->efd, &n, sizeof n) > 0) {
  }
  std::vector<Done> done;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    done.swap(shared_->done);
  }
  const uint64_t now = loop_.now_ms();
  for (Done& d : done) {
    --pending_;
    if (!d.address.empty()) {
      int ttl = d.ttl_s < 0 ? 3600 : d.ttl_s;
      cache_[d.name] = {d.address, now + static_cast<uint64_t>(ttl) * 1000};
    }
    auto it = waiting_.find(d.id);
    if (it == waiting_.end()) continue;
    Completion cb = std::move(it->second);
    waiting_.erase(it);
    if (cb) cb(d.name, d.address);
  }
}

}  // namespace wg::client

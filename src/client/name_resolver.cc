#include "client/name_resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "core/log.h"
#include "proxy/worker_context.h"
#include "upstream/dns.h"

namespace wg::proxy {

NameResolutions::Shared::~Shared() {
  if (efd >= 0) ::close(efd);
}

NameResolutions::NameResolutions(WorkerContext& worker) : worker_(worker), shared_(std::make_shared<Shared>()) {}

NameResolutions::~NameResolutions() {
  if (shared_->efd >= 0) worker_.loop().remove(shared_->efd);
}

// The address bytes of an IP literal, or empty.
static std::string literal_address(const std::string& name) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, name.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return {};
}

bool NameResolutions::resolve(std::shared_ptr<wasm::FilterVm> vm, uint32_t ctx, const std::string& name,
                              std::string* address, bool* refused) {
  *refused = false;
  *address = literal_address(name);
  if (!address->empty()) return true;
  auto it = cache_.find(name);
  if (it != cache_.end() && it->second.expires_ms > worker_.loop().now_ms()) {
    *address = it->second.address;
    return true;
  }
  if (pending_ >= kMaxPending) {
    *refused = true;
    return false;
  }
  if (shared_->efd < 0) {
    shared_->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (shared_->efd < 0 || !worker_.loop().add(shared_->efd, this, EPOLLIN)) {
      WG_LOG(Error, "resolve_lua: no eventfd: %s", strerror(errno));
      *refused = true;
      return false;
    }
  }
  ++pending_;
  std::thread([shared = shared_, weak = std::weak_ptr<wasm::FilterVm>(vm), ctx, name] {
    std::vector<upstream::ResolvedAddress> found;
    int ttl = 0;
    std::string error;
    Done d{weak, ctx, name, {}, 0};
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
      WG_LOG(Info, "resolve_lua: %s did not resolve: %s", name.c_str(), error.c_str());
    }
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->done.push_back(std::move(d));
    uint64_t one = 1;
    ssize_t w = ::write(shared->efd, &one, sizeof one);
    (void)w;  // a full counter still wakes the loop
  }).detach();
  return false;
}

// Answers arrived: remember them and hand each to the filter that asked.
void NameResolutions::on_io(uint32_t) {
  uint64_t n;
  while (::read(shared_->efd, &n, sizeof n) > 0) {
  }
  std::vector<Done> done;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    done.swap(shared_->done);
  }
  const uint64_t now = worker_.loop().now_ms();
  for (Done& d : done) {
    --pending_;
    if (!d.address.empty()) {
      int ttl = d.ttl_s < 0 ? 3600 : d.ttl_s;
      cache_[d.name] = {d.address, now + static_cast<uint64_t>(ttl) * 1000};
    }
    auto vm = d.vm.lock();
    if (!vm) continue;
    std::string args;
    args.push_back(static_cast<char>(d.address.size()));
    args.append(d.address);
    args.append(d.name);
    vm->on_foreign_function(d.ctx, 0, args);
  }
}

}  // namespace wg::proxy

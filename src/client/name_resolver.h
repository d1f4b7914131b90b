// Host names resolved off the worker loop: IP literals and cached answers
// come back at once; other names are resolved on a short-lived thread (the
// resolver, c-ares through upstream::Resolver, blocks) and the answer
// comes back on the worker's loop, woken by an eventfd, through the
// caller's completion. Answers are cached for their TTL; failures are not
// (asked again next time). Used by Proxy-Wasm's resolve_lua
// (wasm/client_hooks); knows no extension kind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"

namespace wg::client {

class NameResolver final : public core::IoHandler {
 public:
  static constexpr size_t kMaxPending = 64;  // per worker

  // The answer for name: its address bytes (4 or 16), empty when it did
  // not resolve.
  using Completion = std::function<void(const std::string& name, const std::string& address)>;
  enum class Result { Now, Later, Refused };

  explicit NameResolver(core::EventLoop& loop);
  ~NameResolver();
  NameResolver(const NameResolver&) = delete;
  NameResolver& operator=(const NameResolver&) = delete;

  // Now: *address holds the answer (`done` is not called). Later: `done`
  // runs on a later loop turn. Refused: too many pending (or no eventfd).
  Result resolve(const std::string& name, std::string* address, Completion done);
  size_t pending() const { return pending_; }
  void on_io(uint32_t events) override;

 private:
  struct Done {
    uint64_t id = 0;
    std::string name;
    std::string address;  // empty: did not resolve
    int ttl_s = 0;
  };
  // What the resolving threads and the worker share (it outlives either).
  struct Shared {
    std::mutex mu;
    std::vector<Done> done;
    int efd = -1;
    ~Shared();
  };
  struct Cached {
    std::string address;
    uint64_t expires_ms = 0;
  };

  core::EventLoop& loop_;
  std::shared_ptr<Shared> shared_;
  std::unordered_map<std::string, Cached> cache_;
  std::unordered_map<uint64_t, Completion> waiting_;  // by request id
  uint64_t next_id_ = 1;
  size_t pending_ = 0;
};

}  // namespace wg::client

// A worker: one thread, one epoll loop, its own listening socket
// (SO_REUSEPORT), its own upstream pool, buffers and access-log buffer
// (proxy::WorkerContext, what its sessions share), its own Wasm instances
// and outbound calls. Workers share nothing but Shared.
#pragma once

#include <atomic>
#include <latch>
#include <cstdint>
#include <memory>
#include <thread>

#include "client/grpc_client.h"
#include "client/http_client.h"
#include "client/name_resolver.h"
#include "client/target.h"
#include "config/snapshot.h"
#include "core/event_loop.h"
#include "core/net.h"
#include "core/settings.h"
#include "plugins/log_senders.h"
#include "lua/worker_lua.h"
#include "plugins/redis_client.h"
#include "proxy/worker_context.h"
#include "wasm/client_hooks.h"
#include "wasm/filters.h"

namespace wg::runtime {

// Process-wide state the workers read: the settings, the published config,
// the drain flag. Lives here (not in core/) because it names the config
// snapshot and the Wasm limits, which core/ must not know.
struct Shared {
  core::Settings settings;
  config::SnapshotHolder snapshots;
  std::atomic<bool> draining{false};
  int access_log_fd = -1;  // -1: off
  wasm::Limits wasm_limits;  // from the --wasm-* flags
  wasm::Isolation wasm_isolation = wasm::Isolation::None;
  std::vector<core::ListenSpec> listens;  // --proxy-listen, parsed
  // TLS termination (default certificate, ciphers, tickets): made at start
  // when a listener has "ssl", shared by every worker.
  std::unique_ptr<tls::ServerTls> server_tls;
  // Every worker starts its config's extensions (Wasm's proxy_on_vm_start,
  // on_configure) before any worker accepts, as Envoy starts every worker's
  // VMs before its listeners: a VM start that resets shared data must not
  // run after another worker served requests. Made with the worker count.
  std::unique_ptr<std::latch> workers_set_up;
};

class Worker;

// One listening socket of a worker (each worker has its own, SO_REUSEPORT).
struct Listener final : core::IoHandler {
  Worker* worker = nullptr;
  int fd = -1;
  proxy::ListenerInfo info;
  void on_io(uint32_t events) override;
};

class Worker final : public proxy::WorkerContext {
 public:
  Worker(Shared& shared, int index);
  ~Worker();
  // Binds the listening sockets; false (with a logged reason) on failure.
  bool listen();
  void start() { thread_ = std::thread([this] { run(); }); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  void accept_all(const Listener& l);

 private:
  void run();
  void begin_drain();
  void setup_config();

  Shared& shared_;
  int index_;
  wasm::WorkerFilters filters_;
  // Outbound calls: to ip:port or a service/upstream of the running config.
  client::ConfigTargets targets_;
  client::HttpClient http_;
  client::GrpcClient grpc_;  // HTTP/2: filters' grpc_call and grpc_stream
  client::NameResolver names_;
  wasm::ClientHooks hooks_;  // filters' http_call, gRPC calls and resolve_lua, on http_, grpc_ and names_
  plugins::LogSenders log_senders_;  // the log plugins' sockets and queues, on loop_, http_ and names_
  plugins::RedisClients redis_;      // the rate-limiting plugins' Redis connections, on loop_ and names_
  lua::WorkerLua lua_;               // the worker's Lua state (Lua plugins); never shared
  std::vector<std::unique_ptr<Listener>> listeners_;
  uint64_t next_sweep_ms_ = 0;
  std::thread thread_;
};

}  // namespace wg::runtime

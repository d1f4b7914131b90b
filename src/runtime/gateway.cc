#include "runtime/gateway.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin/kong_api.h"
#include "admin/server.h"
#include "core/net.h"
#include "core/log.h"
#include "core/version.h"
#include "demo/echo_server.h"
#include "lua/lua_plugins.h"
#include "plugins/plugin.h"
#include "plugins/prometheus.h"
#include "runtime/filters_admin.h"
#include "runtime/proxy_cache_admin.h"
#include "runtime/reloader.h"
#include "runtime/store_publisher.h"
#include "runtime/upstream_health_admin.h"
#include "store/entity_store.h"
#include "runtime/worker.h"
#include "shared/metrics.h"
#include "upstream/dns.h"
#include "runtime/health_checker.h"

namespace wg::runtime {
namespace {

// Whether an ADDR:PORT listens on loopback only (127.0.0.0/8 or ::1).
bool loopback_listen(const std::string& listen) {
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!core::parse_listen_address(listen, &addr, &len)) return true;  // start() reports it
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
  return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

int open_access_log(const std::string& spec) {
  if (spec == "off") return -1;
  if (spec == "stdout" || spec == "-" || spec == "/dev/stdout") return 1;
  if (spec == "stderr" || spec == "/dev/stderr") return 2;
  return ::open(spec.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

// The kernel's ceiling for a process's descriptors (fs.nr_open), at most
// 2^20; 0 when unknown.
rlim_t kernel_fd_ceiling() {
  FILE* f = fopen("/proc/sys/fs/nr_open", "re");
  if (f == nullptr) return 0;
  unsigned long long n = 0;
  if (fscanf(f, "%llu", &n) != 1) n = 0;
  fclose(f);
  return static_cast<rlim_t>(std::min<unsigned long long>(n, 1ull << 20));
}

// Every client and upstream connection is a descriptor: take as many as
// the system lets us (nginx's worker_rlimit_nofile), so idle keep-alive
// connections are bounded by memory, not by the default 1,024. Root (or
// CAP_SYS_RESOURCE) may lift the hard limit too, up to fs.nr_open; anyone
// else gets the hard limit. The descriptor table grows only as it is used.
void raise_fd_limit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t was = rl.rlim_cur;
  const rlim_t ceiling = kernel_fd_ceiling();
  if (ceiling > rl.rlim_max) {
    rlimit lifted{ceiling, ceiling};
    if (setrlimit(RLIMIT_NOFILE, &lifted) == 0) {
      WG_LOG(Notice, "file descriptor limit raised from %llu to %llu", static_cast<unsigned long long>(was),
             static_cast<unsigned long long>(ceiling));
      return;
    }
  }
  if (rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    WG_LOG(Notice, "file descriptor limit raised from %llu to %llu", static_cast<unsigned long long>(was),
           static_cast<unsigned long long>(rl.rlim_cur));
  }
}

// A burst of Admin API writes is published at most this often.
constexpr int kStorePublishIntervalMs = 100;

// The store --database names, seeded on its first start with the config
// file (or the demo) normalized; null with the problems in *errors.
std::unique_ptr<store::EntityStore> open_store(const core::Settings& s, std::vector<std::string>* errors) {
  std::string error;
  std::unique_ptr<store::EntityStore> store = store::EntityStore::open(s.database, &error);
  if (!store) {
    errors->push_back("database " + s.database + ": " + error);
    return nullptr;
  }
  if (store->seeded()) {
    // Read from disk: checked whole once, as a declarative file would be
    // (later publishes bind it without normalizing again). The plugins'
    // schemas check the stored plugins, so they are registered first.
    plugins::register_bundled();
    lua::register_lua_plugins(s.lua_plugins_dir, lua_limits(s), errors);
    if (!errors->empty()) return nullptr;
    config::Normalized check = config::normalize(*store->current());
    for (const auto& p : check.problems) errors->push_back("database " + s.database + ": " + p.line());
    return check.problems.empty() ? std::move(store) : nullptr;
  }
  config::Normalized seed;
  if (!build_snapshot(s, 0, *errors, nullptr, &seed)) return nullptr;
  if (!store->seed(seed.config, &error)) {
    errors->push_back("database " + s.database + ": cannot seed: " + error);
    return nullptr;
  }
  WG_LOG(Notice, "store %s seeded from %s", s.database.c_str(),
         s.config_path.empty() ? "the demo config" : s.config_path.c_str());
  return store;
}

// --proxy-listen in Kong's syntax; the TLS server context when a listener
// has "ssl" (with --ssl-cert/--ssl-cert-key, or a self-signed pair).
bool setup_listeners(Shared& shared) {
  const core::Settings& s = shared.settings;
  std::string err;
  if (!core::parse_listen_list(s.proxy_listen, &shared.listens, &err)) {
    WG_LOG(Error, "invalid --proxy-listen '%s': %s", s.proxy_listen.c_str(), err.c_str());
    return false;
  }
  bool any_ssl = false;
  for (const core::ListenSpec& l : shared.listens) {
    any_ssl |= l.ssl;
    for (const std::string& f : l.ignored) {
      WG_LOG(Notice, "listen %s: flag '%s' accepted and not acted on (not supported yet)", l.address.c_str(), f.c_str());
    }
  }
  if (s.ssl_cert.empty() != s.ssl_cert_key.empty()) {
    WG_LOG(Error, "--ssl-cert and --ssl-cert-key go together");
    return false;
  }
  if (!any_ssl) return true;
  shared.server_tls = tls::ServerTls::create(s.ssl_cert, s.ssl_cert_key, &err);
  if (!shared.server_tls) {
    WG_LOG(Error, "TLS: %s", err.c_str());
    return false;
  }
  if (s.ssl_cert.empty()) WG_LOG(Notice, "no --ssl-cert: serving a self-signed default certificate (CN=localhost)");
  return true;
}

}  // namespace

int run_gateway(core::Settings settings) {
  // Signals are taken by this thread only, with sigwait. Blocked before any
  // thread exists (the Wasm engine starts one while the config loads), so
  // every thread inherits the mask and none is killed by a SIGHUP.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGHUP);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGUSR1);  // from the health checker: names past their TTL
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto shared = std::make_unique<Shared>();
  shared->settings = std::move(settings);
  core::Settings& s = shared->settings;
  log::Level level;
  log::parse_level(s.log_level, &level);
  log::set_level(level);
  if (!s.error_log.empty() && !log::open_file(s.error_log.c_str())) {
    std::fprintf(stderr, "wasmgate: cannot open error log '%s'\n", s.error_log.c_str());
    return 1;
  }
  if (!setup_listeners(*shared)) return 1;
  upstream::Resolver::set_servers(s.dns_resolver);
  raise_fd_limit();
  if (s.workers <= 0) s.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  Reloader reloader(*shared);
  std::vector<std::string> errors;
  std::unique_ptr<store::EntityStore> store;
  if (!s.database.empty() && s.database != "off") store = open_store(s, &errors);
  if (!errors.empty() || !reloader.load_initial(&errors, store ? store->current() : nullptr)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    WG_LOG(Error, "invalid configuration, not starting");
    return 1;
  }
  shared->access_log_fd = open_access_log(s.access_log);
  shared->wasm_limits = wasm_limits(s);
  wasm::parse_isolation(s.wasm_isolation, &shared->wasm_isolation);
  if (s.access_log != "off" && shared->access_log_fd < 0) {
    WG_LOG(Error, "cannot open access log '%s'", s.access_log.c_str());
    return 1;
  }
  if (s.config_path.empty() && !demo::start_echo_server("127.0.0.1:8002")) {
    WG_LOG(Warn, "demo upstream could not listen on 127.0.0.1:8002 (already running?)");
  }

  // The admin listener: /metrics (filter metrics and per-filter counters)
  // and /status so far; the rest of Kong's Admin API comes later.
  admin::AdminServer admin;
  // /metrics: Kong's exporter families (the prometheus plugin's series and
  // the node's gauges), then the Proxy-Wasm filter metrics.
  admin.add_route("/metrics", [holder = &shared->snapshots](const admin::Request&) {
    admin::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    std::shared_ptr<const config::Snapshot> snap = holder->get();
    r.body = plugins::prometheus_exposition(snap.get());
    r.body += shared::Metrics::instance().render_prometheus();
    return r;
  });
  add_proxy_cache_routes(admin);
  add_upstream_health_routes(admin, shared->snapshots, plugins::node_id());
  add_filter_routes(admin, reloader);
  // Kong's Admin API: DB-less, reads of the running config and POST
  // /config; with a store, reads of the store and entity writes, published
  // (coalesced) by the store publisher.
  StorePublisher publisher(reloader, [&store] { return store->current(); }, kStorePublishIntervalMs);
  admin::KongApi api;
  if (store) {
    api.store = store.get();
    api.entities = [&store] { return store->current(); };
    api.changed = [&publisher] { publisher.changed(); };
    api.check_build = [&reloader](const config::Value& entities, std::vector<std::string>* problems) {
      return reloader.check_store(entities, problems);
    };
    publisher.start();
  } else {
    api.entities = [&reloader] { return reloader.entities(); };
  }
  api.generation = [&reloader] { return reloader.generation(); };
  api.apply = [&reloader](const std::string& text, config::Normalized* refused, std::vector<std::string>* errs) {
    return reloader.apply_text(text, refused, errs);
  };
  for (const plugins::PluginType* t : plugins::all_plugins()) api.plugins_available.emplace_back(t->name, t->priority);
  api.version = WASMGATE_VERSION;
  api.node_id = plugins::node_id();
  api.proxy_listen = s.proxy_listen;
  api.admin_listen = s.admin_listen;
  admin::install_kong_api(admin, std::move(api));
  if (s.admin_listen != "off") {
    if (s.admin_token.empty() && !loopback_listen(s.admin_listen)) {
      WG_LOG(Error, "admin listener %s is not on loopback: set --admin-token (WASMGATE_ADMIN_TOKEN)",
             s.admin_listen.c_str());
      return 1;
    }
    admin.set_token(s.admin_token);
    // A slow admin client is cut off as a slow proxy client would be, and
    // within the listener's own 10 s at most (it serves few clients).
    admin.set_timeout_ms(std::min(10000, s.client_timeout_ms));
    std::string error;
    if (!admin.start(s.admin_listen, &error)) {
      WG_LOG(Error, "admin listener %s: %s", s.admin_listen.c_str(), error.c_str());
      return 1;
    }
  }

  shared->workers_set_up = std::make_unique<std::latch>(s.workers);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < s.workers; ++i) {
    workers.push_back(std::make_unique<Worker>(*shared, i));
    if (!workers.back()->listen()) return 1;
  }
  for (auto& w : workers) w->start();
  HealthChecker checker(shared->snapshots);
  checker.start();
  WG_LOG(Notice, "wasmgate " WASMGATE_VERSION " ready on %s (%d workers)", s.proxy_listen.c_str(), s.workers);
  if (s.admin_listen != "off") {
    WG_LOG(Notice, "admin listener on %s (Kong Admin API, %s)", s.admin_listen.c_str(),
           store ? s.database.c_str() : "DB-less");
  }

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // With a store, the store is the config: publish it again.
      if (store) {
        reloader.publish_store(store->current());
      } else {
        reloader.reload();
      }
      continue;
    }
    if (sig == SIGUSR1) {
      reloader.refresh_dns();
      continue;
    }
    WG_LOG(Notice, "signal %d: draining in-flight requests", sig);
    shared->draining = true;
    break;
  }
  for (auto& w : workers) w->join();
  checker.stop();
  admin.stop();
  publisher.stop();
  WG_LOG(Notice, "wasmgate stopped");
  return 0;
}

}  // namespace wg::runtime

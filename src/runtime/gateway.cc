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
#include "plugins/plugin.h"
#include "plugins/prometheus.h"
#include "runtime/proxy_cache_admin.h"
#include "runtime/reloader.h"
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

// Every client and upstream connection is a descriptor: take as many as
// the hard limit allows (nginx's worker_rlimit_nofile), so idle keep-alive
// connections are bounded by memory, not by the default 1,024.
void raise_fd_limit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    WG_LOG(Notice, "file descriptor limit raised from %llu to %llu", static_cast<unsigned long long>(was),
           static_cast<unsigned long long>(rl.rlim_cur));
  }
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
  if (!reloader.load_initial(&errors)) {
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
  // Kong's Admin API, DB-less: reads of the running config, POST /config.
  admin::KongApi api;
  api.entities = [&reloader] { return reloader.entities(); };
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
    std::string error;
    if (!admin.start(s.admin_listen, &error)) {
      WG_LOG(Error, "admin listener %s: %s", s.admin_listen.c_str(), error.c_str());
      return 1;
    }
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < s.workers; ++i) {
    workers.push_back(std::make_unique<Worker>(*shared, i));
    if (!workers.back()->listen()) return 1;
  }
  for (auto& w : workers) w->start();
  HealthChecker checker(shared->snapshots);
  checker.start();
  WG_LOG(Notice, "wasmgate " WASMGATE_VERSION " ready on %s (%d workers)", s.proxy_listen.c_str(), s.workers);
  if (s.admin_listen != "off") WG_LOG(Notice, "admin listener on %s (Kong Admin API, DB-less)", s.admin_listen.c_str());

  for (;;) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reloader.reload();
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
  WG_LOG(Notice, "wasmgate stopped");
  return 0;
}

}  // namespace wg::runtime

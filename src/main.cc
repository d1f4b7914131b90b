// wasmgate command line: start, check, version. Parses the command line and
// calls into src/runtime (which runs the gateway and builds configs).

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"
#include "config/snapshot.h"
#include "core/log.h"
#include "core/settings.h"
#include "core/version.h"
#include "runtime/gateway.h"
#include "runtime/reloader.h"
#include "wasm/filters.h"

namespace {

using wg::core::Settings;

struct Flag {
  const char* name;   // long form, without dashes
  char short_name;    // 0 when none
  const char* help;
  std::function<bool(const std::string&)> set;
};

bool parse_int(const std::string& v, int lo, int hi, int* out) {
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) return false;
  *out = static_cast<int>(n);
  return true;
}

std::vector<Flag> start_flags(Settings& s) {
  return {
      {"config", 'c', "declarative config file (Kong _format_version 3.0)",
       [&s](const std::string& v) { s.config_path = v; return true; }},
      {"database", 0,
       "where entities live: off (from --config) or sqlite:PATH (written through the Admin API) (off with --config, "
       "else sqlite:$XDG_STATE_HOME/wasmgate/wasmgate.db)",
       [&s](const std::string& v) {
         s.database = v;
         return v == "off" || (v.rfind("sqlite:", 0) == 0 && v.size() > 7);
       }},
      {"proxy-listen", 0, "proxy addresses, Kong's syntax: ADDR:PORT [ssl], ... (127.0.0.1:8000)",
       [&s](const std::string& v) { s.proxy_listen = v; return true; }},
      {"ssl-cert", 0, "default certificate of the ssl listeners, PEM file (a self-signed one)",
       [&s](const std::string& v) { s.ssl_cert = v; return true; }},
      {"ssl-cert-key", 0, "key of --ssl-cert, PEM file",
       [&s](const std::string& v) { s.ssl_cert_key = v; return true; }},
      {"admin-listen", 0, "Admin API address, ADDR:PORT or off (127.0.0.1:8001)",
       [&s](const std::string& v) { s.admin_listen = v; return true; }},
      {"admin-token", 0, "token the Admin API requires as Kong-Admin-Token (none; required off loopback)",
       [&s](const std::string& v) { s.admin_token = v; return true; }},
      {"workers", 0, "worker threads (one per core)",
       [&s](const std::string& v) { return parse_int(v, 1, 1024, &s.workers); }},
      {"log-level", 0, "debug|info|notice|warn|error (notice)",
       [&s](const std::string& v) {
         wg::log::Level l;
         s.log_level = v;
         return wg::log::parse_level(v, &l);
       }},
      {"access-log", 0, "access log file, or off (stdout)", [&s](const std::string& v) { s.access_log = v; return true; }},
      {"access-log-format", 0, "text|json (text)",
       [&s](const std::string& v) {
         s.access_log_format = v;
         return v == "text" || v == "json";
       }},
      {"error-log", 0, "error log file (stderr)", [&s](const std::string& v) { s.error_log = v; return true; }},
      {"client-timeout", 0, "ms to wait on a client mid-request (60000)",
       [&s](const std::string& v) { return parse_int(v, 1, 1 << 30, &s.client_timeout_ms); }},
      {"keepalive-timeout", 0, "ms an idle client connection is kept (60000)",
       [&s](const std::string& v) { return parse_int(v, 1, 1 << 30, &s.keepalive_timeout_ms); }},
      {"drain-timeout", 0, "ms to finish in-flight requests on SIGTERM (30000)",
       [&s](const std::string& v) { return parse_int(v, 0, 1 << 30, &s.drain_timeout_ms); }},
      {"filters-dir", 0, "directory of Wasm filters (NAME.wasm is filter NAME)",
       [&s](const std::string& v) { s.filters_dir = v; return true; }},
      {"wasm-cache-dir", 0, "where compiled filters are cached (/var/cache/wasmgate/compiled)",
       [&s](const std::string& v) { s.wasm_cache_dir = v; return true; }},
      {"wasm-budget", 0, "ms a filter call may run before it is cut (100)",
       [&s](const std::string& v) { return parse_int(v, 1, 60000, &s.wasm_budget_ms); }},
      {"wasm-memory", 0, "MiB of memory per filter instance (64)",
       [&s](const std::string& v) { return parse_int(v, 1, 4096, &s.wasm_memory_mb); }},
      {"wasm-isolation", 0, "filter instances: none (one per module per worker), filter, stream (none)",
       [&s](const std::string& v) {
         wg::wasm::Isolation iso;
         if (!wg::wasm::parse_isolation(v, &iso)) return false;
         s.wasm_isolation = v;
         return true;
       }},
      {"wasm-max-body", 0, "MiB of body a filter may hold back (buffer) per request and direction (64)",
       [&s](const std::string& v) { return parse_int(v, 1, 4096, &s.wasm_max_body_mb); }},
      {"lua-plugins-dir", 0, "directory of Kong Lua plugins (NAME/handler.lua, NAME/schema.lua)",
       [&s](const std::string& v) { s.lua_plugins_dir = v; return true; }},
      {"lua-budget", 0, "millions of Lua VM instructions a plugin call may run before it is cut (100)",
       [&s](const std::string& v) { return parse_int(v, 1, 1 << 20, &s.lua_budget_millions); }},
      {"lua-memory", 0, "MiB of memory per worker's Lua state (256)",
       [&s](const std::string& v) { return parse_int(v, 1, 1 << 16, &s.lua_memory_mb); }},
      {"lua-shared-dict", 0, "ngx.shared dictionaries every worker sees, NAME:SIZE[k|m][,...] (none)",
       [&s](const std::string& v) { s.lua_shared_dicts = v; return true; }},
      {"dns-resolver", 0, "DNS servers, ip:port[,ip:port] (default: /etc/resolv.conf)",
       [&s](const std::string& v) { s.dns_resolver = v; return true; }},
      {"upstream-keepalive-pool-size", 0, "idle upstream connections kept per worker and destination, 0: none (512)",
       [&s](const std::string& v) { return parse_int(v, 0, 1 << 20, &s.upstream_keepalive_pool_size); }},
      {"upstream-keepalive-max-requests", 0, "requests per upstream connection, 0: no limit (10000)",
       [&s](const std::string& v) { return parse_int(v, 0, 1 << 30, &s.upstream_keepalive_max_requests); }},
      {"upstream-keepalive-idle-timeout", 0, "seconds an upstream connection may stay idle, 0: no limit (60)",
       [&s](const std::string& v) { return parse_int(v, 0, 1 << 20, &s.upstream_keepalive_idle_timeout_s); }},
      {"max-header-size", 0, "largest request head in bytes (32768)",
       [&s](const std::string& v) {
         int n = 0;
         if (!parse_int(v, 1024, 1 << 20, &n)) return false;
         s.max_header_size = static_cast<size_t>(n);
         return true;
       }},
  };
}

std::string env_name(const char* flag) {
  std::string e = "WASMGATE_";
  for (const char* p = flag; *p; ++p) e.push_back(*p == '-' ? '_' : static_cast<char>(std::toupper(*p)));
  return e;
}

void usage(FILE* out) {
  Settings dummy;
  std::fprintf(out,
               "usage: wasmgate start [flags]   run the gateway\n"
               "       wasmgate check [--dump] FILE  validate a declarative config file (--dump: print it normalized)\n"
               "       wasmgate version         print the version\n\nflags of start (each also read from "
               "WASMGATE_<FLAG>, e.g. WASMGATE_PROXY_LISTEN):\n");
  for (const auto& f : start_flags(dummy)) {
    std::fprintf(out, "  %s--%-20s %s\n", f.short_name ? "-c, " : "    ", f.name, f.help);
  }
}

// Kong keeps its database under its prefix; ours, with no --config, is a
// per-user state file: $XDG_STATE_HOME/wasmgate/wasmgate.db, else
// ~/.local/state/wasmgate/wasmgate.db, else ./wasmgate.db (no HOME). The
// store creates the directories.
std::string default_database() {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  if (state != nullptr && state[0] == '/') return std::string("sqlite:") + state + "/wasmgate/wasmgate.db";
  if (home != nullptr && home[0] == '/') return std::string("sqlite:") + home + "/.local/state/wasmgate/wasmgate.db";
  return "sqlite:wasmgate.db";
}

// Applies env vars first, then command-line flags (which win).
bool parse_start(int argc, char** argv, Settings& s) {
  auto flags = start_flags(s);
  for (const auto& f : flags) {
    if (const char* v = std::getenv(env_name(f.name).c_str())) {
      if (!f.set(v)) {
        std::fprintf(stderr, "wasmgate: invalid value '%s' in %s\n", v, env_name(f.name).c_str());
        return false;
      }
    }
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    const Flag* flag = nullptr;
    for (const auto& f : flags) {
      std::string lng = std::string("--") + f.name;
      if (arg == lng || (f.short_name && arg == std::string("-") + f.short_name)) {
        if (i + 1 >= argc) {
          std::fprintf(stderr, "wasmgate: %s needs a value\n", arg.c_str());
          return false;
        }
        flag = &f;
        value = argv[++i];
      } else if (arg.rfind(lng + "=", 0) == 0) {
        flag = &f;
        value = arg.substr(lng.size() + 1);
      }
      if (flag) break;
    }
    if (arg == "-h" || arg == "--help") {
      usage(stdout);
      std::exit(0);
    }
    if (!flag) {
      std::fprintf(stderr, "wasmgate: unknown flag '%s' (see wasmgate --help)\n", arg.c_str());
      return false;
    }
    if (!flag->set(value)) {
      std::fprintf(stderr, "wasmgate: invalid value '%s' for --%s\n", value.c_str(), flag->name);
      return false;
    }
  }
  // The default: a config file is DB-less (as Kong's declarative
  // mode); without one, entities live in the embedded store.
  if (s.database.empty()) s.database = s.config_path.empty() ? default_database() : "off";
  return true;
}

// `check [--dump] FILE`: validates like a start would (filters included);
// --dump prints the normalized configuration (ids, defaults, references as
// {"id": ...}), the shape of Kong's GET /config.
int cmd_check(int argc, char** argv) {
  Settings s;
  bool dump = false;
  if (const char* dir = std::getenv("WASMGATE_FILTERS_DIR")) s.filters_dir = dir;
  if (const char* dir = std::getenv("WASMGATE_LUA_PLUGINS_DIR")) s.lua_plugins_dir = dir;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dump") {
      dump = true;
    } else if ((arg == "--filters-dir" || arg == "--wasm-cache-dir") && i + 1 < argc) {
      (arg == "--filters-dir" ? s.filters_dir : s.wasm_cache_dir) = argv[++i];
    } else if (arg == "--lua-plugins-dir" && i + 1 < argc) {
      s.lua_plugins_dir = argv[++i];
    } else if (s.config_path.empty() && arg.rfind("--", 0) != 0) {
      s.config_path = arg;
    } else {
      s.config_path.clear();
      break;
    }
  }
  if (s.config_path.empty()) {
    std::fprintf(stderr, "usage: wasmgate check [--dump] FILE [--filters-dir DIR] [--wasm-cache-dir DIR] [--lua-plugins-dir DIR]\n");
    return 2;
  }
  std::vector<std::string> errors;
  auto snap = wg::runtime::build_snapshot(s, 1, errors);
  if (!snap) {
    for (const auto& e : errors) std::printf("%s\n", e.c_str());
    return 1;
  }
  if (dump) {
    wg::config::Declarative decl;
    wg::config::Normalized normalized;
    wg::config::load_file(s.config_path, decl, errors, &normalized);
    std::printf("%s\n", wg::config::to_json(normalized.config, 2).c_str());
    return 0;
  }
  const wg::config::Declarative& decl = snap->decl;
  size_t targets = 0;
  for (const auto& u : decl.upstreams) targets += u.targets.size();
  std::printf("ok: %zu services, %zu routes, %zu upstreams, %zu targets\n", decl.services.size(), decl.routes.size(),
              decl.upstreams.size(), targets);
  return 0;
}

int cmd_start(int argc, char** argv) {
  Settings s;
  if (!parse_start(argc, argv, s)) return 2;
  return wg::runtime::run_gateway(std::move(s));
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "start") return cmd_start(argc, argv);
  if (cmd == "check") return cmd_check(argc, argv);
  if (cmd == "version" || cmd == "--version") {
    std::printf("wasmgate " WASMGATE_VERSION "\n");
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    usage(stdout);
    return 0;
  }
  usage(stderr);
  return 2;
}

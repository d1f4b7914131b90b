// Gateway settings (not entities): from flags and WASMGATE_* env vars.
#pragma once

#include <cstddef>
#include <string>

namespace wg::core {

struct Settings {
  std::string config_path;  // empty: the embedded demo config
  // "off" (DB-less: entities come from the config file) or "sqlite:PATH"
  // (entities live in that file, written through the Admin API; a fresh
  // store is seeded from the config file or the demo). Empty until the
  // command line is read: then "off" with a config file, else the default
  // store (default_database()).
  std::string database;
  std::string proxy_listen = "127.0.0.1:8000";
  std::string admin_listen = "127.0.0.1:8001";
  // The default certificate of the ssl listeners (PEM files); none: a
  // self-signed one made at start.
  std::string ssl_cert, ssl_cert_key;
  // Required as Kong-Admin-Token on every admin call when set; mandatory
  // when the admin listener is not on loopback.
  std::string admin_token;
  int workers = 0;  // 0: one per core
  std::string log_level = "notice";
  std::string access_log = "stdout";
  std::string access_log_format = "text";
  std::string error_log;
  int client_timeout_ms = 60000;
  int keepalive_timeout_ms = 60000;
  int drain_timeout_ms = 30000;
  size_t max_header_size = 32768;
  std::string dns_resolver;  // "ip:port,..."; empty: system resolver configuration
  std::string filters_dir;  // every NAME.wasm there is filter NAME
  std::string wasm_cache_dir = "/var/cache/wasmgate/compiled";
  int wasm_budget_ms = 100;      // per call into a filter
  int wasm_memory_mb = 64;       // per filter instance
  std::string wasm_isolation = "none";
  int wasm_max_body_mb = 64;
  std::string lua_plugins_dir;  // every NAME/handler.lua + NAME/schema.lua there is Lua plugin NAME
  int lua_budget_millions = 100;  // VM instructions per call into a Lua plugin, in millions
  int lua_memory_mb = 256;        // per worker's Lua state
  std::string lua_shared_dicts;   // ngx.shared dictionaries: "name:size,..." (size in bytes, k or m)     // body a filter chain may buffer, per request and direction
  // Kong's upstream keep-alive (kong.conf's upstream_keepalive_*): idle
  // connections kept per worker and destination (0: none kept), requests
  // per connection (0: no limit), seconds one may stay idle (0: no limit).
  int upstream_keepalive_pool_size = 512;
  int upstream_keepalive_max_requests = 10000;
  int upstream_keepalive_idle_timeout_s = 60;

  // Bytes of body one handler may hold back, per request and direction
  // (--wasm-max-body: the name predates other handler kinds).
  size_t handler_body_limit() const { return static_cast<size_t>(wasm_max_body_mb) << 20; }
};

}  // namespace wg::core

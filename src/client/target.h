// Where an outbound request goes: a target string (what a caller names) is
// turned into an address and the Host header to send by a TargetResolver.
// The literal resolver takes "ip:port" (and "localhost:port"); the config
// resolver also takes the name of a configured service or upstream, whose
// balancer picks the peer. Names that need DNS are refused here: nothing
// blocks a worker's loop (NameResolver resolves names off the loop).
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/snapshot.h"
#include "upstream/balancer.h"

namespace wg::client {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host;  // the Host header when the request sets none
  // A service of protocol https: its upstream TLS settings (null: plain).
  // The gRPC client honours it; the HTTP/1.1 client does not yet.
  std::shared_ptr<const tls::ClientTls> tls;
};

// "ip:port", "[v6]:port" or "localhost:port"; host is the text itself.
bool parse_ip_port(std::string_view text, Endpoint* out);

class TargetResolver {
 public:
  // False when the target names nothing this resolver knows.
  virtual bool resolve(const std::string& target, Endpoint* out) = 0;

 protected:
  ~TargetResolver() = default;
};

// Literal addresses only.
class LiteralTargets final : public TargetResolver {
 public:
  bool resolve(const std::string& target, Endpoint* out) override { return parse_ip_port(target, out); }
};

// A literal address, or a service or upstream of the config a worker runs
// now (read through `current` at each call, so a reload applies at once);
// the balancer's per-worker state comes from `state`.
class ConfigTargets final : public TargetResolver {
 public:
  using StateOf = std::function<upstream::BalancerState*(const config::Snapshot&, int balancer)>;
  ConfigTargets(const std::shared_ptr<const config::Snapshot>& current, StateOf state)
      : current_(current), state_(std::move(state)) {}
  bool resolve(const std::string& target, Endpoint* out) override;

 private:
  const std::shared_ptr<const config::Snapshot>& current_;
  StateOf state_;
};

}  // namespace wg::client

// Load balancing across an upstream's targets, Kong's four algorithms:
// round-robin (weighted, smooth as nginx's), consistent-hashing (a ring of
// `slots` points spread by weight), least-connections and latency (peak
// EWMA). The Balancer is immutable and lives in the config snapshot; the
// little mutable state an algorithm needs (round-robin credit, open
// connections, latency averages) is per worker, in BalancerState.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/entities.h"
#include "shared/health.h"

namespace wg::upstream {

struct Peer {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string endpoint;     // "ip:port": the connection pool key
  std::string host_header;  // the target's name, with the port unless 80
  std::string name;         // "upstream/target" for logs
  int target = -1;          // index into the upstream's targets (its name for metrics)
  int weight = 100;
  std::shared_ptr<shared::TargetHealth> health;
};

enum class Algorithm { RoundRobin, ConsistentHashing, LeastConnections, Latency };

struct BalancerState {
  std::vector<int64_t> credit;   // smooth weighted round-robin
  std::vector<int32_t> active;   // open requests per peer (this worker)
  std::vector<double> ewma_ms;   // peak-EWMA response time per peer
  uint32_t rotate = 0;           // spreads ties
  uint64_t last_ms = 0;
};

class Balancer {
 public:
  // Resolves targets (every address of a name becomes a peer with the
  // target's weight) and builds the hash ring.
  static std::unique_ptr<Balancer> build(const config::Upstream& u, std::vector<std::string>* warnings);

  const config::Upstream& config() const { return cfg_; }
  const std::vector<Peer>& peers() const { return peers_; }
  bool uses_hash() const { return algorithm_ == Algorithm::ConsistentHashing && cfg_.hash_on != "none"; }
  // Picks a peer, or -1 when none is available (all unhealthy, or below
  // the healthy-weight threshold). tried: bit i set = peer i already failed
  // for this request; such peers are only reused when nothing else is left.
  int pick(BalancerState& st, uint64_t hash, bool has_hash, uint64_t tried) const;
  void init_state(BalancerState& st) const;
  // Bookkeeping for least-connections and latency.
  void on_start(BalancerState& st, int peer) const;
  void on_finish(BalancerState& st, int peer, uint64_t elapsed_ms, uint64_t now_ms) const;
  bool passive_checks() const { return cfg_.healthchecks.passive_enabled(); }

  static uint32_t hash_key(std::string_view key);
  // Seconds until a name behind these peers should be resolved again; -1
  // when every target is an address.
  int ttl_s() const { return ttl_s_; }

 private:
  bool usable(int i, uint64_t tried, bool allow_tried) const;
  int pick_round_robin(BalancerState& st, uint64_t tried) const;
  int pick_hash(uint64_t hash, uint64_t tried) const;
  int pick_least(BalancerState& st, uint64_t tried, bool by_latency) const;

  config::Upstream cfg_;
  Algorithm algorithm_ = Algorithm::RoundRobin;
  std::vector<Peer> peers_;
  std::vector<uint32_t> ring_points_;  // sorted hash points
  std::vector<uint16_t> ring_peers_;   // peer index of each point
  int ttl_s_ = -1;
};

}  // namespace wg::upstream

#include "upstream/balancer.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "upstream/dns.h"

namespace wg::upstream {
namespace {

std::string endpoint_of(const sockaddr* sa, int port) {
  char ip[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, ip, sizeof ip);
  return "[" + std::string(ip) + "]:" + std::to_string(port);
}

// Weighs a pick for least-connections: fewer open requests per unit of
// weight is better.
double load_of(const BalancerState& st, const Peer& p, int i) {
  return static_cast<double>(st.active[i] + 1) / static_cast<double>(std::max(p.weight, 1));
}

}  // namespace

uint32_t Balancer::hash_key(std::string_view key) {
  // FNV-1a, then a final avalanche (murmur3's fmix32) so nearby keys spread.
  uint32_t h = 2166136261u;
  for (unsigned char c : key) {
    h ^= c;
    h *= 16777619u;
  }
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

std::unique_ptr<Balancer> Balancer::build(const config::Upstream& u, std::vector<std::string>* warnings) {
  auto b = std::unique_ptr<Balancer>(new Balancer());
  b->cfg_ = u;
  if (u.algorithm == "consistent-hashing") b->algorithm_ = Algorithm::ConsistentHashing;
  if (u.algorithm == "least-connections") b->algorithm_ = Algorithm::LeastConnections;
  if (u.algorithm == "latency") b->algorithm_ = Algorithm::Latency;
  for (const auto& t : u.targets) {
    if (t.weight == 0) continue;  // weight 0 disables a target
    std::vector<ResolvedAddress> addrs;
    int ttl = -1;
    std::string error;
    std::string port = std::to_string(t.port);
    if (!Resolver::resolve(t.host, t.port, &addrs, &ttl, &error)) {
      warnings->push_back("upstream '" + u.name + "' target '" + t.host + ":" + port + "': " + error);
      b->ttl_s_ = b->ttl_s_ < 0 ? 60 : std::min(b->ttl_s_, 60);  // try again later
      continue;
    }
    if (ttl >= 0) b->ttl_s_ = b->ttl_s_ < 0 ? ttl : std::min(b->ttl_s_, ttl);
    for (const auto& a : addrs) {
      Peer p;
      p.addr = a.addr;
      p.addr_len = a.len;
      p.endpoint = endpoint_of(reinterpret_cast<const sockaddr*>(&a.addr), t.port);
      bool is_v6 = t.host.find(':') != std::string::npos;
      std::string host = is_v6 ? "[" + t.host + "]" : t.host;
      // Kong: the upstream's host_header, else the target's name; the port unless 80.
      if (!u.host_header.empty()) host = u.host_header;
      p.host_header = t.port == 80 ? host : host + ":" + port;
      p.name = u.name + "/" + p.endpoint;
      p.target = static_cast<int>(&t - u.targets.data());
      p.weight = t.weight;
      p.health = shared::HealthRegistry::instance().get(p.name);
      bool dup = std::any_of(b->peers_.begin(), b->peers_.end(),
                             [&](const Peer& q) { return q.endpoint == p.endpoint; });
      if (!dup && b->peers_.size() < 64) b->peers_.push_back(std::move(p));
    }
  }
  if (b->algorithm_ == Algorithm::ConsistentHashing && !b->peers_.empty()) {
    // Points per peer depend only on its own weight (160 per 100 of weight,
    // as Kong's ring) and their positions only on its own address, so adding
    // a target moves keys only onto the new target, about 1/N of them.
    std::vector<std::pair<uint32_t, uint16_t>> points;
    for (size_t i = 0; i < b->peers_.size(); ++i) {
      int64_t n = std::max<int64_t>(1, int64_t{160} * b->peers_[i].weight / 100);
      for (int64_t k = 0; k < n; ++k) {
        points.push_back({hash_key(b->peers_[i].endpoint + "#" + std::to_string(k)), static_cast<uint16_t>(i)});
      }
    }
    std::sort(points.begin(), points.end());
    for (const auto& [h, i] : points) {
      b->ring_points_.push_back(h);
      b->ring_peers_.push_back(i);
    }
  }
  return b;
}

void Balancer::init_state(BalancerState& st) const {
  st.credit.assign(peers_.size(), 0);
  st.active.assign(peers_.size(), 0);
  st.ewma_ms.assign(peers_.size(), 0.0);
}

bool Balancer::usable(int i, uint64_t tried, bool allow_tried) const {
  if (!peers_[i].health->healthy()) return false;
  return allow_tried || (tried & (uint64_t{1} << i)) == 0;
}

int Balancer::pick(BalancerState& st, uint64_t hash, bool has_hash, uint64_t tried) const {
  if (peers_.empty()) return -1;
  if (st.active.size() != peers_.size()) init_state(st);
  if (cfg_.healthchecks.threshold > 0) {
    int64_t total = 0, healthy = 0;
    for (const auto& p : peers_) {
      total += p.weight;
      if (p.health->healthy()) healthy += p.weight;
    }
    if (static_cast<double>(healthy) * 100.0 < cfg_.healthchecks.threshold * static_cast<double>(total)) return -1;
  }
  switch (algorithm_) {
    case Algorithm::ConsistentHashing:
      if (has_hash) return pick_hash(hash, tried);
      return pick_round_robin(st, tried);
    case Algorithm::LeastConnections:
      return pick_least(st, tried, false);
    case Algorithm::Latency:
      return pick_least(st, tried, true);
    case Algorithm::RoundRobin:
      break;
  }
  return pick_round_robin(st, tried);
}

// nginx's smooth weighted round-robin: every pick adds each peer's weight to
// its credit and takes the richest, which then pays the total.
int Balancer::pick_round_robin(BalancerState& st, uint64_t tried) const {
  for (int pass = 0; pass < 2; ++pass) {
    int best = -1;
    int64_t total = 0;
    for (int i = 0; i < static_cast<int>(peers_.size()); ++i) {
      if (!usable(i, tried, pass == 1)) continue;
      st.credit[i] += peers_[i].weight;
      total += peers_[i].weight;
      if (best < 0 || st.credit[i] > st.credit[best]) best = i;
    }
    if (best >= 0) {
      st.credit[best] -= total;
      return best;
    }
  }
  return -1;
}

int Balancer::pick_hash(uint64_t hash, uint64_t tried) const {
  if (ring_points_.empty()) return -1;
  size_t start = std::upper_bound(ring_points_.begin(), ring_points_.end(), static_cast<uint32_t>(hash)) -
                 ring_points_.begin();
  for (int pass = 0; pass < 2; ++pass) {
    // Walk clockwise to the first usable peer.
    for (size_t k = 0; k < ring_points_.size(); ++k) {
      int i = ring_peers_[(start + k) % ring_points_.size()];
      if (usable(i, tried, pass == 1)) return i;
    }
  }
  return -1;
}

int Balancer::pick_least(BalancerState& st, uint64_t tried, bool by_latency) const {
  const int n = static_cast<int>(peers_.size());
  for (int pass = 0; pass < 2; ++pass) {
    int best = -1;
    double best_score = 0;
    uint32_t start = st.rotate++;
    for (int k = 0; k < n; ++k) {
      int i = static_cast<int>((start + static_cast<uint32_t>(k)) % static_cast<uint32_t>(n));
      if (!usable(i, tried, pass == 1)) continue;
      // Latency ignores weights (as Kong's); an unmeasured peer scores 0 so it gets tried.
      double score = by_latency ? st.ewma_ms[i] * (st.active[i] + 1) : load_of(st, peers_[i], i);
      if (best < 0 || score < best_score) {
        best = i;
        best_score = score;
      }
    }
    if (best >= 0) return best;
  }
  return -1;
}

void Balancer::on_start(BalancerState& st, int peer) const {
  if (st.active.size() != peers_.size()) init_state(st);
  ++st.active[peer];
}

void Balancer::on_finish(BalancerState& st, int peer, uint64_t elapsed_ms, uint64_t now_ms) const {
  if (st.active.size() != peers_.size()) return;
  if (st.active[peer] > 0) --st.active[peer];
  if (algorithm_ == Algorithm::Latency) {
    // Peak EWMA: jump up at once on a slow response, decay slowly.
    double& e = st.ewma_ms[peer];
    double sample = static_cast<double>(elapsed_ms) + 0.001;
    e = sample > e ? sample : e * 0.8 + sample * 0.2;
  }
  st.last_ms = now_ms;
}

}  // namespace wg::upstream

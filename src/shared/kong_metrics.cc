#include "shared/kong_metrics.h"

#include <algorithm>

namespace wg::shared {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// Latency blocks: per histogram, one bin per bucket, +Inf, then the sum.
constexpr uint32_t kKongBins = kKongLatencyBuckets.size() + 1;
constexpr uint32_t kUpstreamBins = kUpstreamLatencyBuckets.size() + 1;
constexpr uint32_t kKongAt = 0;
constexpr uint32_t kUpstreamAt = kKongAt + kKongBins + 1;
constexpr uint32_t kRequestAt = kUpstreamAt + kUpstreamBins + 1;
constexpr uint32_t kLatencyValues = kRequestAt + kUpstreamBins + 1;

// Only the owner thread writes a value: a plain add, published relaxed.
inline void bump(std::atomic<uint64_t>& v, uint64_t by) { v.store(v.load(kRelaxed) + by, kRelaxed); }

template <size_t N>
void observe(std::atomic<uint64_t>* h, const std::array<int64_t, N>& buckets, int64_t value) {
  if (value < 0) return;
  size_t bin = 0;
  while (bin < N && value > buckets[bin]) ++bin;  // the first bound >= value; N is +Inf
  bump(h[bin], 1);
  bump(h[N + 1], static_cast<uint64_t>(value));
}

}  // namespace

// ---------------------------------------------------------------- SeriesTable

SeriesTable::SeriesTable() : index_(64), shift_(64 - 6) {}

SeriesTable::~SeriesTable() {
  for (auto& c : chunks_) delete[] c.load(kRelaxed);
}

uint64_t SeriesTable::key(Kind kind, uint32_t route, int code, bool from_service, uint32_t consumer) {
  const uint64_t c = code < 0 || code > 0x3FF ? 0 : static_cast<uint64_t>(code);
  return (static_cast<uint64_t>(kind) << 62) | (static_cast<uint64_t>(route & 0xFFFFFF) << 38) | (c << 28) |
         (static_cast<uint64_t>(from_service) << 27) | (consumer & 0x7FFFFFF);
}

uint32_t SeriesTable::values_of(Kind kind) {
  switch (kind) {
    case Status:
      return 1;
    case Bandwidth:
      return 2;  // ingress, egress
    case Latency:
      return kLatencyValues;
  }
  return 0;
}

void SeriesTable::count_status(uint32_t route, int code, bool from_service, uint32_t consumer) {
  if (Value* v = find(key(Status, route, code, from_service, consumer))) bump(v[0], 1);
}

void SeriesTable::add_bandwidth(uint32_t route, uint32_t consumer, uint64_t ingress, uint64_t egress) {
  if (Value* v = find(key(Bandwidth, route, 0, false, consumer))) {
    bump(v[0], ingress);
    bump(v[1], egress);
  }
}

void SeriesTable::observe_latencies(uint32_t route, int64_t kong_ms, int64_t upstream_ms, int64_t request_ms) {
  Value* v = find(key(Latency, route, 0, false, 0));
  if (v == nullptr) return;
  observe(v + kKongAt, kKongLatencyBuckets, kong_ms);
  observe(v + kUpstreamAt, kUpstreamLatencyBuckets, upstream_ms);
  observe(v + kRequestAt, kUpstreamLatencyBuckets, request_ms);
}

// A label set's first request: its block, then its place in the index.
SeriesTable::Value* SeriesTable::add(uint64_t key, size_t slot) {
  const uint64_t size = 1 + values_of(kind_of(key));
  uint64_t at = used_;
  if (at % kChunkValues + size > kChunkValues) at = (at / kChunkValues + 1) * kChunkValues;  // next chunk
  const uint64_t chunk = at / kChunkValues;
  if (chunk >= kMaxChunks) {
    dropped_.fetch_add(1, kRelaxed);
    return nullptr;
  }
  Value* c = chunks_[chunk].load(kRelaxed);
  if (c == nullptr) {
    c = new Value[kChunkValues]();  // zeroed: an unused tail reads as key 0
    chunks_[chunk].store(c, std::memory_order_release);
  }
  Value* block = c + at % kChunkValues;
  block[0].store(key, kRelaxed);
  used_ = at + size;
  published_.store(used_, std::memory_order_release);
  index_[slot] = {key, block + 1};
  if (++entries_ * 2 > index_.size()) grow_index();
  return block + 1;
}

void SeriesTable::grow_index() {
  std::vector<Slot> old(index_.size() * 2);
  old.swap(index_);
  --shift_;
  const size_t mask = index_.size() - 1;
  for (const Slot& s : old) {
    if (s.key == 0) continue;
    size_t i = (s.key * 0x9E3779B97F4A7C15ull) >> shift_;
    while (index_[i].key != 0) i = (i + 1) & mask;
    index_[i] = s;
  }
}

// ---------------------------------------------------------------- KongMetrics

KongMetrics& KongMetrics::instance() {
  static KongMetrics* m = new KongMetrics();  // never destroyed: workers may count until exit
  return *m;
}

uint32_t KongMetrics::route_key(std::string_view service, std::string_view route) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, fresh] = route_ids_.try_emplace({std::string(service), std::string(route)},
                                            static_cast<uint32_t>(routes_.size()));
  if (fresh) routes_.push_back(it->first);
  return it->second;
}

uint32_t KongMetrics::consumer_key(std::string_view username) {
  if (username.empty()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = consumer_ids_.find(username);
  if (it != consumer_ids_.end()) return it->second;
  const uint32_t id = static_cast<uint32_t>(consumers_.size());
  consumers_.emplace_back(username);
  consumer_ids_.emplace(std::string(username), id);
  return id;
}

SeriesTable& KongMetrics::add_table() {
  std::lock_guard<std::mutex> lock(mu_);
  tables_.push_back(std::make_unique<SeriesTable>());
  return *tables_.back();
}

SeriesTable& KongMetrics::local() {
  thread_local SeriesTable* table = &instance().add_table();
  return *table;
}

// ---------------------------------------------------------------- text

namespace {

void escape_into(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// `name="value"` pairs, comma-separated, without braces.
std::string labels(std::initializer_list<std::pair<const char*, std::string_view>> pairs) {
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out.push_back(',');
    out.append(k).append("=\"");
    escape_into(&out, v);
    out.push_back('"');
  }
  return out;
}

void header(std::string* out, const char* name, const char* help, const char* type) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string* out, const char* name, std::string_view label_text, uint64_t value) {
  out->append(name);
  if (!label_text.empty()) out->append("{").append(label_text).append("}");
  out->append(" ").append(std::to_string(value)).append("\n");
}

// Rendered samples of one family, sorted by their labels as Kong's output is.
using Rows = std::vector<std::pair<std::string, uint64_t>>;

void family(std::string* out, const char* name, const char* help, const char* type, Rows rows) {
  if (rows.empty()) return;  // Kong shows a family once it has a sample
  std::sort(rows.begin(), rows.end());
  header(out, name, help, type);
  for (const auto& [l, v] : rows) sample(out, name, l, v);
}

struct Hist {
  std::string labels;
  std::vector<uint64_t> bins;  // per bucket, then +Inf (not cumulative)
  uint64_t sum = 0;
};

template <size_t N>
void histogram(std::string* out, const std::string& name, const char* help, std::vector<Hist> hs,
               const std::array<int64_t, N>& buckets) {
  if (hs.empty()) return;
  std::sort(hs.begin(), hs.end(), [](const Hist& a, const Hist& b) { return a.labels < b.labels; });
  header(out, name.c_str(), help, "histogram");
  const std::string bucket = name + "_bucket";
  for (const Hist& h : hs) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= N; ++i) {
      cumulative += h.bins[i];
      std::string le = i < N ? std::to_string(buckets[i]) : "+Inf";
      sample(out, bucket.c_str(), h.labels + ",le=\"" + le + "\"", cumulative);
    }
  }
  // _count is the +Inf bucket, read once with the bins, so the two agree.
  for (const Hist& h : hs) {
    uint64_t count = 0;
    for (uint64_t b : h.bins) count += b;
    sample(out, (name + "_count").c_str(), h.labels, count);
  }
  for (const Hist& h : hs) sample(out, (name + "_sum").c_str(), h.labels, h.sum);
}

}  // namespace

std::string KongMetrics::render(const NodeView& node) const {
  // Every worker's values, added up per series key.
  std::map<uint64_t, std::vector<uint64_t>> sums;
  std::vector<std::pair<std::string, std::string>> routes;
  std::vector<std::string> consumers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (node.plugin_enabled) {
      for (const auto& t : tables_) {
        t->for_each([&](uint64_t key, const std::atomic<uint64_t>* v) {
          std::vector<uint64_t>& s = sums[key];
          s.resize(SeriesTable::values_of(SeriesTable::kind_of(key)));
          for (size_t i = 0; i < s.size(); ++i) s[i] += v[i].load(kRelaxed);
        });
      }
    }
    routes = routes_;
    consumers = consumers_;
  }

  Rows requests, bandwidth;
  std::vector<Hist> kong_latency, upstream_latency, request_latency;
  for (const auto& [key, v] : sums) {
    const auto& [service, route] = routes[SeriesTable::route_of(key)];
    const uint32_t c = SeriesTable::consumer_of(key);
    std::string_view consumer = c < consumers.size() ? std::string_view(consumers[c]) : std::string_view();
    switch (SeriesTable::kind_of(key)) {
      case SeriesTable::Status:
        requests.emplace_back(labels({{"service", service},
                                      {"route", route},
                                      {"code", std::to_string(SeriesTable::code_of(key))},
                                      {"source", SeriesTable::service_source_of(key) ? "service" : "kong"},
                                      {"workspace", "default"},
                                      {"consumer", consumer}}),
                              v[0]);
        break;
      case SeriesTable::Bandwidth:
        // Kong counts a direction only when it carried bytes.
        for (int d = 0; d < 2; ++d) {
          if (v[d] == 0) continue;
          bandwidth.emplace_back(labels({{"service", service},
                                         {"route", route},
                                         {"direction", d == 0 ? "ingress" : "egress"},
                                         {"workspace", "default"},
                                         {"consumer", consumer}}),
                                 v[d]);
        }
        break;
      case SeriesTable::Latency: {
        const std::string l = labels({{"service", service}, {"route", route}, {"workspace", "default"}});
        auto take = [&](std::vector<Hist>& into, uint32_t at, uint32_t bins) {
          Hist h{l, std::vector<uint64_t>(v.begin() + at, v.begin() + at + bins), v[at + bins]};
          uint64_t count = 0;
          for (uint64_t b : h.bins) count += b;
          if (count > 0) into.push_back(std::move(h));  // Kong shows a histogram once observed
        };
        take(kong_latency, kKongAt, kKongBins);
        take(upstream_latency, kUpstreamAt, kUpstreamBins);
        take(request_latency, kRequestAt, kUpstreamBins);
        break;
      }
    }
  }

  // Families in Kong's order (sorted by name, prefix aside).
  std::string out;
  if (!bandwidth.empty()) {
    family(&out, "kong_bandwidth_bytes", "Bytes received from clients (ingress) and sent to them (egress).",
           "counter", std::move(bandwidth));
  }
  family(&out, "kong_datastore_reachable", "Whether the datastore is reachable (1; no database: always 1).",
         "gauge", {{"", 1}});
  if (!requests.empty()) {
    family(&out, "kong_http_requests_total", "Requests per service, route, status code, source and consumer.",
           "counter", std::move(requests));
  }
  histogram(&out, "kong_kong_latency_ms", "Time spent in the gateway and its plugins, per service and route.",
            std::move(kong_latency), kKongLatencyBuckets);
  const std::string node_label = labels({{"node_id", node.node_id}, {"subsystem", "http"}});
  Rows connections;
  const std::pair<const char*, uint64_t> states[] = {
      {"accepted", node.accepted}, {"active", node.active},   {"handled", node.handled}, {"reading", node.reading},
      {"total", node.requests},    {"waiting", node.waiting}, {"writing", node.writing}};
  for (const auto& [state, value] : states) {
    connections.emplace_back(labels({{"node_id", node.node_id}, {"subsystem", "http"}, {"state", state}}), value);
  }
  family(&out, "kong_nginx_connections_total", "Client connections of every worker, by state.", "gauge",
         std::move(connections));
  if (node.plugin_enabled) {
    family(&out, "kong_nginx_metric_errors_total", "Errors of the metrics exporter itself.", "counter", {{"", 0}});
  }
  family(&out, "kong_nginx_requests_total", "Requests received by every worker.", "gauge",
         {{node_label, node.requests}});
  family(&out, "kong_node_info", "This node: its id and version.", "gauge",
         {{labels({{"node_id", node.node_id}, {"version", node.version}}), 1}});
  histogram(&out, "kong_request_latency_ms", "Time from the first request byte to the last response byte.",
            std::move(request_latency), kUpstreamLatencyBuckets);
  histogram(&out, "kong_upstream_latency_ms", "Time the upstream took to answer with its response head.",
            std::move(upstream_latency), kUpstreamLatencyBuckets);
  if (node.upstream_health) {
    Rows health;
    static const char* const kStates[] = {"healthchecks_off", "healthy", "unhealthy", "dns_error"};
    for (const auto& t : node.targets) {
      for (const char* s : kStates) {
        health.emplace_back(labels({{"upstream", t.upstream},
                                    {"target", t.target},
                                    {"address", t.address},
                                    {"state", s},
                                    {"subsystem", "http"}}),
                            t.state == s ? 1 : 0);
      }
    }
    family(&out, "kong_upstream_target_health",
           "Health of each upstream target address: 1 for its state (healthchecks_off, healthy, unhealthy, "
           "dns_error).",
           "gauge", std::move(health));
  }
  return out;
}

}  // namespace wg::shared

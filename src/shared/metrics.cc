#include "shared/metrics.h"

#include <bit>
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "core/log.h"

namespace wg::shared {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

void sanitize_into(std::string* out, std::string_view text) {
  for (char c : text) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out->push_back(ok ? c : '_');
  }
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// Text for a HELP line (in_label=false) or a quoted label value
// (in_label=true): escapes what the format requires, replaces control
// characters, and replaces bytes >= 0x80 unless the text is valid UTF-8.
void escape_into(std::string* out, std::string_view text, bool in_label) {
  bool utf8 = valid_utf8(text);
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '\\') {
      out->append("\\\\");
    } else if (ch == '\n') {
      out->append("\\n");
    } else if (ch == '"' && in_label) {
      out->append("\\\"");
    } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
      out->push_back('?');
    } else {
      out->push_back(ch);
    }
  }
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
  }
  return "untyped";
}

void append_header(std::string* out, const std::string& family, const char* help, const char* type) {
  out->append("# HELP ").append(family).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(family).append(" ").append(type).append("\n");
}

}  // namespace

Metrics& Metrics::instance() {
  static Metrics* metrics = new Metrics;  // leaked on purpose: workers may outlive static destructors
  return *metrics;
}

Metrics::Metrics() = default;

Metrics::~Metrics() {
  for (auto& chunk : chunks_) delete[] chunk.load(kRelaxed);
}

std::string Metrics::family_name(std::string_view filter, std::string_view name) {
  std::string out = "wasm_filter_";
  out.reserve(out.size() + filter.size() + 1 + name.size());
  sanitize_into(&out, filter);
  out.push_back('_');
  sanitize_into(&out, name);
  return out;
}

int Metrics::histogram_bin(uint64_t value) {
  if (value <= 1) return 0;
  int bin = static_cast<int>(std::bit_width(value - 1));  // ceil(log2(value))
  return bin > kHistogramBins - 2 ? kHistogramBins - 1 : bin;
}

uint32_t Metrics::define(MetricType type, std::string_view filter, std::string_view name, bool* ok) {
  if (ok) *ok = false;
  if (static_cast<uint32_t>(type) > static_cast<uint32_t>(MetricType::Histogram)) return 0;
  if (filter.empty() || name.empty() || filter.size() > kMaxNameLength || name.size() > kMaxNameLength) return 0;
  std::string key;
  key.reserve(filter.size() + 1 + name.size());
  key.append(filter).push_back('\0');
  key.append(name);

  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    if (find(it->second)->type != type) return 0;
    if (ok) *ok = true;
    return it->second;
  }
  uint32_t index = count_.load(kRelaxed);
  if (index >= kMaxMetrics) {
    WG_LOG(Error, "metrics: cannot define %s \"%.*s\" of filter \"%.*s\": %u metrics already defined",
           type_name(type), static_cast<int>(name.size()), name.data(), static_cast<int>(filter.size()),
           filter.data(), kMaxMetrics);
    return 0;
  }
  auto& chunk_slot = chunks_[index / kChunkSize];
  Metric* chunk = chunk_slot.load(kRelaxed);
  if (!chunk) {
    chunk = new Metric[kChunkSize];
    chunk_slot.store(chunk, std::memory_order_release);
  }
  Metric& m = chunk[index % kChunkSize];
  m.type = type;
  m.filter.assign(filter);
  m.name.assign(name);
  if (type == MetricType::Histogram) m.histogram = std::make_unique<Histogram>();
  uint32_t id = index + 1;

  // Reserve every sample name the family will emit, so that two families never
  // render the same series.
  std::string family = family_name(filter, name);
  std::vector<std::string> samples{family};
  if (type == MetricType::Histogram) {
    samples.push_back(family + "_bucket");
    samples.push_back(family + "_sum");
    samples.push_back(family + "_count");
  }
  uint32_t clash = 0;
  for (const auto& s : samples) {
    if (auto it = sample_names_.find(s); it != sample_names_.end()) {
      clash = it->second;
      break;
    }
  }
  if (clash == 0) {
    for (auto& s : samples) sample_names_.emplace(std::move(s), id);
    families_.emplace(std::move(family), id);
  } else {
    const Metric* other = find(clash);
    WG_LOG(Warn,
           "metrics: %s \"%.*s\" of filter \"%.*s\" clashes with %s \"%s\" of filter \"%s\" in the Prometheus "
           "output (%s); it will not be exported",
           type_name(type), static_cast<int>(name.size()), name.data(), static_cast<int>(filter.size()),
           filter.data(), type_name(other->type), other->name.c_str(), other->filter.c_str(), family.c_str());
  }
  by_key_.emplace(std::move(key), id);
  count_.store(id, std::memory_order_release);  // publishes m
  if (ok) *ok = true;
  return id;
}

Metrics::Metric* Metrics::find(uint32_t id) const {
  if (id == 0 || id > count_.load(std::memory_order_acquire)) return nullptr;
  uint32_t index = id - 1;
  Metric* chunk = chunks_[index / kChunkSize].load(std::memory_order_acquire);
  return &chunk[index % kChunkSize];
}

bool Metrics::increment(uint32_t id, int64_t delta) {
  Metric* m = find(id);
  if (!m) return false;
  switch (m->type) {
    case MetricType::Counter:
      if (delta < 0) return false;
      m->counter.fetch_add(static_cast<uint64_t>(delta), kRelaxed);
      return true;
    case MetricType::Gauge:
      m->gauge.fetch_add(delta, kRelaxed);  // wraps (two's complement) on overflow
      return true;
    case MetricType::Histogram:
      return false;
  }
  return false;
}

bool Metrics::record(uint32_t id, uint64_t value) {
  Metric* m = find(id);
  if (!m) return false;
  switch (m->type) {
    case MetricType::Counter:
      m->counter.store(value, kRelaxed);
      return true;
    case MetricType::Gauge:
      m->gauge.store(static_cast<int64_t>(value), kRelaxed);
      return true;
    case MetricType::Histogram:
      m->histogram->bins[histogram_bin(value)].fetch_add(1, kRelaxed);
      m->histogram->sum.fetch_add(value, kRelaxed);
      return true;
  }
  return false;
}

bool Metrics::get(uint32_t id, uint64_t* value) {
  Metric* m = find(id);
  if (!m) return false;
  switch (m->type) {
    case MetricType::Counter:
      *value = m->counter.load(kRelaxed);
      return true;
    case MetricType::Gauge:
      *value = static_cast<uint64_t>(m->gauge.load(kRelaxed));
      return true;
    case MetricType::Histogram:
      return false;
  }
  return false;
}

bool Metrics::type_of(uint32_t id, MetricType* type) const {
  Metric* m = find(id);
  if (!m) return false;
  *type = m->type;
  return true;
}

FilterStats* Metrics::stats_for(std::string_view filter) {
  {
    std::shared_lock<std::shared_mutex> lock(stats_mu_);
    if (auto it = stats_.find(filter); it != stats_.end()) return it->second.get();
  }
  std::unique_lock<std::shared_mutex> lock(stats_mu_);
  auto it = stats_.find(filter);
  if (it == stats_.end()) it = stats_.emplace(std::string(filter), std::make_unique<FilterStats>()).first;
  return it->second.get();
}

std::string Metrics::render_prometheus() const {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [family, id] : families_) {
      const Metric* m = find(id);
      std::string help = "Proxy-Wasm ";
      help.append(type_name(m->type)).append(" \"");
      escape_into(&help, m->name, false);
      help.append("\" of filter \"");
      escape_into(&help, m->filter, false);
      help.append("\"");
      append_header(&out, family, help.c_str(), type_name(m->type));
      switch (m->type) {
        case MetricType::Counter:
          out.append(family).append(" ").append(std::to_string(m->counter.load(kRelaxed))).append("\n");
          break;
        case MetricType::Gauge:
          out.append(family).append(" ").append(std::to_string(m->gauge.load(kRelaxed))).append("\n");
          break;
        case MetricType::Histogram: {
          // One load per bin, so the buckets, +Inf and _count agree with each
          // other even while workers record (the sum may be a little ahead or
          // behind).
          uint64_t bins[kHistogramBins];
          int highest = -1;
          for (int i = 0; i < kHistogramBins; ++i) {
            bins[i] = m->histogram->bins[i].load(kRelaxed);
            if (bins[i] != 0 && i < kHistogramBins - 1) highest = i;
          }
          uint64_t cumulative = 0;
          for (int i = 0; i <= highest; ++i) {
            cumulative += bins[i];
            out.append(family)
                .append("_bucket{le=\"")
                .append(std::to_string(uint64_t{1} << i))
                .append("\"} ")
                .append(std::to_string(cumulative))
                .append("\n");
          }
          for (int i = highest + 1; i < kHistogramBins; ++i) cumulative += bins[i];
          out.append(family).append("_bucket{le=\"+Inf\"} ").append(std::to_string(cumulative)).append("\n");
          out.append(family).append("_sum ").append(std::to_string(m->histogram->sum.load(kRelaxed))).append("\n");
          out.append(family).append("_count ").append(std::to_string(cumulative)).append("\n");
          break;
        }
      }
    }
  }

  std::shared_lock<std::shared_mutex> lock(stats_mu_);
  if (stats_.empty()) return out;
  struct Family {
    const char* name;
    const char* help;
  };
  static constexpr Family kFamilies[] = {
      {"wasmgate_filter_calls_total", "Proxy-Wasm filter callbacks run."},
      {"wasmgate_filter_traps_total", "Proxy-Wasm filter callbacks that trapped."},
      {"wasmgate_filter_seconds_total", "Time spent in Proxy-Wasm filter callbacks, in seconds."},
  };
  for (int f = 0; f < 3; ++f) {
    append_header(&out, kFamilies[f].name, kFamilies[f].help, "counter");
    for (const auto& [filter, stats] : stats_) {
      out.append(kFamilies[f].name).append("{filter=\"");
      escape_into(&out, filter, true);
      out.append("\"} ");
      if (f == 0) {
        out.append(std::to_string(stats->calls.load(kRelaxed)));
      } else if (f == 1) {
        out.append(std::to_string(stats->traps.load(kRelaxed)));
      } else {
        uint64_t ns = stats->nanoseconds.load(kRelaxed);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
        out.append(buf);
      }
      out.append("\n");
    }
  }
  return out;
}

}  // namespace wg::shared

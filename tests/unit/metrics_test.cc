#include "shared/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

using wg::shared::FilterStats;
using wg::shared::Metrics;
using wg::shared::MetricType;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(MetricsTest, DefineReturnsStableNonzeroIds) {
  Metrics m;
  bool ok = false;
  uint32_t a = m.define(MetricType::Counter, "f", "requests", &ok);
  EXPECT_TRUE(ok);
  EXPECT_NE(a, 0u);
  uint32_t again = m.define(MetricType::Counter, "f", "requests", &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(again, a);
  uint32_t other_filter = m.define(MetricType::Counter, "g", "requests", &ok);
  EXPECT_TRUE(ok);
  EXPECT_NE(other_filter, a);
  uint32_t gauge = m.define(MetricType::Gauge, "f", "inflight");
  EXPECT_NE(gauge, 0u);
  EXPECT_NE(gauge, a);
  MetricType t;
  ASSERT_TRUE(m.type_of(gauge, &t));
  EXPECT_EQ(t, MetricType::Gauge);
  ASSERT_TRUE(m.type_of(a, &t));
  EXPECT_EQ(t, MetricType::Counter);
  EXPECT_FALSE(m.type_of(0, &t));
  EXPECT_FALSE(m.type_of(12345, &t));
  // The ABI numbering.
  EXPECT_EQ(static_cast<int>(MetricType::Counter), 0);
  EXPECT_EQ(static_cast<int>(MetricType::Gauge), 1);
  EXPECT_EQ(static_cast<int>(MetricType::Histogram), 2);
}

TEST(MetricsTest, DefineRefusesAnotherTypeAndBadNames) {
  Metrics m;
  bool ok = true;
  uint32_t id = m.define(MetricType::Counter, "f", "x", &ok);
  ASSERT_TRUE(ok);
  EXPECT_EQ(m.define(MetricType::Gauge, "f", "x", &ok), 0u);
  EXPECT_FALSE(ok);
  EXPECT_EQ(m.define(MetricType::Histogram, "f", "x", &ok), 0u);
  EXPECT_FALSE(ok);
  EXPECT_EQ(m.define(MetricType::Counter, "f", "x", &ok), id);  // still there
  EXPECT_TRUE(ok);

  EXPECT_EQ(m.define(MetricType::Counter, "f", "", &ok), 0u);
  EXPECT_FALSE(ok);
  EXPECT_EQ(m.define(MetricType::Counter, "", "x", &ok), 0u);
  EXPECT_FALSE(ok);
  EXPECT_EQ(m.define(static_cast<MetricType>(3), "f", "y", &ok), 0u);
  EXPECT_FALSE(ok);
  std::string longest(Metrics::kMaxNameLength, 'n');
  EXPECT_NE(m.define(MetricType::Counter, "f", longest, &ok), 0u);
  EXPECT_TRUE(ok);
  EXPECT_EQ(m.define(MetricType::Counter, "f", longest + "n", &ok), 0u);
  EXPECT_FALSE(ok);
  EXPECT_NE(m.define(MetricType::Counter, "f", "y"), 0u);  // ok may be null
}

TEST(MetricsTest, NameWithNulIsDistinctFromFilterBoundary) {
  Metrics m;
  // The key joins filter and name with '\0'; names are arbitrary bytes.
  uint32_t a = m.define(MetricType::Counter, "ab", "c");
  uint32_t b = m.define(MetricType::Counter, "a", "bc");
  EXPECT_NE(a, b);
}

TEST(MetricsTest, CounterSemantics) {
  Metrics m;
  uint32_t id = m.define(MetricType::Counter, "f", "c");
  uint64_t v = 99;
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(m.increment(id, 5));
  EXPECT_TRUE(m.increment(id, 0));
  EXPECT_FALSE(m.increment(id, -1));
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(v, 5u);
  EXPECT_TRUE(m.record(id, 42));  // sets
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(v, 42u);
}

TEST(MetricsTest, GaugeSemantics) {
  Metrics m;
  uint32_t id = m.define(MetricType::Gauge, "f", "g");
  uint64_t v = 99;
  EXPECT_TRUE(m.increment(id, 3));
  EXPECT_TRUE(m.increment(id, -10));
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(static_cast<int64_t>(v), -7);
  EXPECT_TRUE(m.record(id, 100));
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(v, 100u);
  EXPECT_TRUE(m.record(id, static_cast<uint64_t>(int64_t{-2})));
  ASSERT_TRUE(m.get(id, &v));
  EXPECT_EQ(static_cast<int64_t>(v), -2);
  EXPECT_TRUE(contains(m.render_prometheus(), "\nwasm_filter_f_g -2\n"));
}

TEST(MetricsTest, HistogramSemantics) {
  Metrics m;
  uint32_t id = m.define(MetricType::Histogram, "f", "h");
  EXPECT_TRUE(m.record(id, 3));
  EXPECT_FALSE(m.increment(id, 1));
  uint64_t v = 0;
  EXPECT_FALSE(m.get(id, &v));  // refused, as Envoy and ngx_wasm_module do
}

TEST(MetricsTest, UnknownIdsAreRefused) {
  Metrics m;
  uint32_t id = m.define(MetricType::Counter, "f", "c");
  uint64_t v;
  for (uint32_t bad : {0u, id + 1, 1000u, 0xFFFFFFFFu}) {
    EXPECT_FALSE(m.increment(bad, 1)) << bad;
    EXPECT_FALSE(m.record(bad, 1)) << bad;
    EXPECT_FALSE(m.get(bad, &v)) << bad;
  }
}

TEST(MetricsTest, ManyMetricsCrossChunks) {
  Metrics m;
  std::vector<uint32_t> ids;
  for (uint32_t i = 0; i < Metrics::kChunkSize * 3 + 7; ++i) {
    ids.push_back(m.define(MetricType::Counter, "f", "c" + std::to_string(i)));
    ASSERT_NE(ids.back(), 0u);
  }
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_TRUE(m.increment(ids[i], static_cast<int64_t>(i)));
  for (size_t i = 0; i < ids.size(); ++i) {
    uint64_t v;
    ASSERT_TRUE(m.get(ids[i], &v));
    EXPECT_EQ(v, i);
    EXPECT_EQ(m.define(MetricType::Counter, "f", "c" + std::to_string(i)), ids[i]);
  }
}

TEST(MetricsTest, HistogramBins) {
  EXPECT_EQ(Metrics::histogram_bin(0), 0);
  EXPECT_EQ(Metrics::histogram_bin(1), 0);
  EXPECT_EQ(Metrics::histogram_bin(2), 1);
  EXPECT_EQ(Metrics::histogram_bin(3), 2);
  EXPECT_EQ(Metrics::histogram_bin(4), 2);
  EXPECT_EQ(Metrics::histogram_bin(5), 3);
  EXPECT_EQ(Metrics::histogram_bin(1024), 10);
  EXPECT_EQ(Metrics::histogram_bin(1025), 11);
  EXPECT_EQ(Metrics::histogram_bin(65536), 16);
  EXPECT_EQ(Metrics::histogram_bin(65537), 17);
  EXPECT_EQ(Metrics::histogram_bin(UINT64_MAX), 17);
  EXPECT_EQ(Metrics::kHistogramBins, 18);
}

TEST(MetricsTest, FamilyNameSanitizes) {
  EXPECT_EQ(Metrics::family_name("my-filter.v1", "req count/s"), "wasm_filter_my_filter_v1_req_count_s");
  EXPECT_EQ(Metrics::family_name("f", "A_z9"), "wasm_filter_f_A_z9");
  EXPECT_EQ(Metrics::family_name("f\xc3\xa9", "x"), "wasm_filter_f___x");  // each byte
}

TEST(MetricsTest, RendersCounterGaugeHistogram) {
  Metrics m;
  uint32_t c = m.define(MetricType::Counter, "auth-filter", "requests.total");
  uint32_t g = m.define(MetricType::Gauge, "auth-filter", "inflight");
  uint32_t h = m.define(MetricType::Histogram, "auth-filter", "latency ms");
  ASSERT_TRUE(m.increment(c, 7));
  ASSERT_TRUE(m.record(g, 3));
  for (uint64_t v : {1, 2, 3, 3, 7}) ASSERT_TRUE(m.record(h, v));
  const std::string expected =
      "# HELP wasm_filter_auth_filter_inflight Proxy-Wasm gauge \"inflight\" of filter \"auth-filter\"\n"
      "# TYPE wasm_filter_auth_filter_inflight gauge\n"
      "wasm_filter_auth_filter_inflight 3\n"
      "# HELP wasm_filter_auth_filter_latency_ms Proxy-Wasm histogram \"latency ms\" of filter \"auth-filter\"\n"
      "# TYPE wasm_filter_auth_filter_latency_ms histogram\n"
      "wasm_filter_auth_filter_latency_ms_bucket{le=\"1\"} 1\n"
      "wasm_filter_auth_filter_latency_ms_bucket{le=\"2\"} 2\n"
      "wasm_filter_auth_filter_latency_ms_bucket{le=\"4\"} 4\n"
      "wasm_filter_auth_filter_latency_ms_bucket{le=\"8\"} 5\n"
      "wasm_filter_auth_filter_latency_ms_bucket{le=\"+Inf\"} 5\n"
      "wasm_filter_auth_filter_latency_ms_sum 16\n"
      "wasm_filter_auth_filter_latency_ms_count 5\n"
      "# HELP wasm_filter_auth_filter_requests_total Proxy-Wasm counter \"requests.total\" of filter "
      "\"auth-filter\"\n"
      "# TYPE wasm_filter_auth_filter_requests_total counter\n"
      "wasm_filter_auth_filter_requests_total 7\n";
  EXPECT_EQ(m.render_prometheus(), expected);
}

TEST(MetricsTest, RendersEmptyAndOverflowingHistograms) {
  Metrics m;
  m.define(MetricType::Histogram, "f", "empty");
  uint32_t big = m.define(MetricType::Histogram, "f", "big");
  ASSERT_TRUE(m.record(big, 1000000));  // only the catch-all bin
  ASSERT_TRUE(m.record(big, 65536));    // the last finite bin
  std::string out = m.render_prometheus();
  EXPECT_TRUE(contains(out,
                       "wasm_filter_f_empty_bucket{le=\"+Inf\"} 0\n"
                       "wasm_filter_f_empty_sum 0\n"
                       "wasm_filter_f_empty_count 0\n"))
      << out;
  EXPECT_FALSE(contains(out, "wasm_filter_f_empty_bucket{le=\"1\"}"));
  EXPECT_TRUE(contains(out,
                       "wasm_filter_f_big_bucket{le=\"32768\"} 0\n"
                       "wasm_filter_f_big_bucket{le=\"65536\"} 1\n"
                       "wasm_filter_f_big_bucket{le=\"+Inf\"} 2\n"
                       "wasm_filter_f_big_sum 1065536\n"
                       "wasm_filter_f_big_count 2\n"))
      << out;
  EXPECT_FALSE(contains(out, "le=\"131072\""));
}

TEST(MetricsTest, ClashingFamiliesRenderOnce) {
  Metrics m;
  uint32_t a = m.define(MetricType::Counter, "f", "a.b");
  uint32_t b = m.define(MetricType::Counter, "f", "a_b");  // same family name
  uint32_t h = m.define(MetricType::Histogram, "f", "x");
  uint32_t xc = m.define(MetricType::Counter, "f", "x_count");  // clashes with x's _count sample
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  ASSERT_NE(a, b);
  ASSERT_NE(h, 0u);
  ASSERT_NE(xc, 0u);
  ASSERT_TRUE(m.increment(a, 1));
  ASSERT_TRUE(m.increment(b, 2));  // the metric works, it is just not exported
  ASSERT_TRUE(m.increment(xc, 2));
  std::string out = m.render_prometheus();
  EXPECT_TRUE(contains(out, "\nwasm_filter_f_a_b 1\n")) << out;
  EXPECT_FALSE(contains(out, "wasm_filter_f_a_b 2")) << out;
  EXPECT_FALSE(contains(out, "wasm_filter_f_x_count 2")) << out;
  EXPECT_EQ(out.find("# TYPE wasm_filter_f_a_b "), out.rfind("# TYPE wasm_filter_f_a_b "));
}

TEST(MetricsTest, HelpTextIsEscaped) {
  Metrics m;
  m.define(MetricType::Counter, "f", "back\\slash\nnew\x01line");
  std::string out = m.render_prometheus();
  EXPECT_TRUE(contains(out, "\"back\\\\slash\\nnew?line\"")) << out;
  EXPECT_TRUE(contains(out, "\nwasm_filter_f_back_slash_new_line 0\n")) << out;
}

TEST(MetricsTest, FilterStats) {
  Metrics m;
  EXPECT_EQ(m.render_prometheus(), "");
  FilterStats* s = m.stats_for("auth");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(m.stats_for("auth"), s);  // stable handle
  EXPECT_NE(m.stats_for("b\"q"), s);
  s->add_calls(1, 1500);
  m.add_filter_call("auth", 2'000'000'000);
  m.add_filter_trap("auth");
  m.add_filter_call("b\"q", 5);
  EXPECT_EQ(s->calls.load(), 2u);
  EXPECT_EQ(s->traps.load(), 1u);
  EXPECT_EQ(s->nanoseconds.load(), 2'000'001'500u);
  const std::string expected =
      "# HELP wasmgate_filter_calls_total Proxy-Wasm filter callbacks run.\n"
      "# TYPE wasmgate_filter_calls_total counter\n"
      "wasmgate_filter_calls_total{filter=\"auth\"} 2\n"
      "wasmgate_filter_calls_total{filter=\"b\\\"q\"} 1\n"
      "# HELP wasmgate_filter_traps_total Proxy-Wasm filter callbacks that trapped.\n"
      "# TYPE wasmgate_filter_traps_total counter\n"
      "wasmgate_filter_traps_total{filter=\"auth\"} 1\n"
      "wasmgate_filter_traps_total{filter=\"b\\\"q\"} 0\n"
      "# HELP wasmgate_filter_seconds_total Time spent in Proxy-Wasm filter callbacks, in seconds.\n"
      "# TYPE wasmgate_filter_seconds_total counter\n"
      "wasmgate_filter_seconds_total{filter=\"auth\"} 2.000001500\n"
      "wasmgate_filter_seconds_total{filter=\"b\\\"q\"} 0.000000005\n";
  EXPECT_EQ(m.render_prometheus(), expected);
}

TEST(MetricsTest, LabelValuesKeepValidUtf8) {
  Metrics m;
  m.add_filter_trap("caf\xc3\xa9");
  m.add_filter_trap("bad\xff");
  std::string out = m.render_prometheus();
  EXPECT_TRUE(contains(out, "{filter=\"caf\xc3\xa9\"}")) << out;
  EXPECT_TRUE(contains(out, "{filter=\"bad?\"}")) << out;
}

TEST(MetricsTest, InstanceIsProcessWide) {
  Metrics& a = Metrics::instance();
  EXPECT_EQ(&a, &Metrics::instance());
  uint32_t id = a.define(MetricType::Counter, "metrics_test_instance", "c");
  std::thread t([&] { EXPECT_EQ(Metrics::instance().define(MetricType::Counter, "metrics_test_instance", "c"), id); });
  t.join();
}

// Every worker defines the same metrics and updates them while another
// thread renders; totals must be exact. Meant to run under TSan too.
TEST(MetricsTest, ConcurrentDefineUpdateRender) {
  Metrics m;
  constexpr int kThreads = 8;
  constexpr int kIters = 20000;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  std::vector<uint32_t> counter_ids(kThreads), hist_ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bool ok = false;
      uint32_t c = m.define(MetricType::Counter, "conc", "calls", &ok);
      EXPECT_TRUE(ok);
      uint32_t g = m.define(MetricType::Gauge, "conc", "level", &ok);
      EXPECT_TRUE(ok);
      uint32_t h = m.define(MetricType::Histogram, "conc", "sizes", &ok);
      EXPECT_TRUE(ok);
      // Each thread also defines metrics of its own while others update.
      uint32_t mine = m.define(MetricType::Counter, "conc", "own" + std::to_string(t), &ok);
      EXPECT_TRUE(ok);
      counter_ids[t] = c;
      hist_ids[t] = h;
      FilterStats* stats = m.stats_for("conc");
      for (int i = 0; i < kIters; ++i) {
        m.increment(c, 1);
        m.increment(g, (i % 2) ? -1 : 1);
        m.record(h, static_cast<uint64_t>(i % 100));
        m.increment(mine, 1);
        stats->add_calls(1, 10);
        if (i % 1000 == 0) m.define(MetricType::Counter, "conc", "late" + std::to_string(t * 100 + i / 1000));
      }
    });
  }
  std::thread renderer([&] {
    while (!done.load()) {
      std::string out = m.render_prometheus();
      EXPECT_FALSE(out.empty());
      uint64_t v;
      m.get(1, &v);
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  renderer.join();
  for (int t = 1; t < kThreads; ++t) {
    EXPECT_EQ(counter_ids[t], counter_ids[0]);
    EXPECT_EQ(hist_ids[t], hist_ids[0]);
  }
  uint64_t v;
  ASSERT_TRUE(m.get(counter_ids[0], &v));
  EXPECT_EQ(v, uint64_t{kThreads} * kIters);
  uint32_t g = m.define(MetricType::Gauge, "conc", "level");
  ASSERT_TRUE(m.get(g, &v));
  EXPECT_EQ(v, 0u);
  std::string out = m.render_prometheus();
  EXPECT_TRUE(contains(out, "wasm_filter_conc_sizes_count " + std::to_string(kThreads * kIters) + "\n")) << out;
  // sum of i%100 over kIters iterations = (kIters/100) * 4950 per thread
  EXPECT_TRUE(contains(out, "wasm_filter_conc_sizes_sum " + std::to_string(kThreads * (kIters / 100) * 4950) + "\n"));
  EXPECT_TRUE(contains(out, "wasmgate_filter_calls_total{filter=\"conc\"} " + std::to_string(kThreads * kIters)));
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(m.get(m.define(MetricType::Counter, "conc", "own" + std::to_string(t)), &v));
    EXPECT_EQ(v, uint64_t{kIters});
  }
}

}  // namespace

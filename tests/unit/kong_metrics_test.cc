#include "shared/kong_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using wg::shared::KongMetrics;
using wg::shared::NodeView;
using wg::shared::SeriesTable;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

NodeView enabled_node() {
  NodeView n;
  n.plugin_enabled = true;
  n.node_id = "n1";
  n.version = "0.1.0";
  return n;
}

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

TEST(KongMetricsTest, KeysPackAndUnpack) {
  uint64_t k = SeriesTable::key(SeriesTable::Status, 123456, 503, true, 99999);
  EXPECT_EQ(SeriesTable::kind_of(k), SeriesTable::Status);
  EXPECT_EQ(SeriesTable::route_of(k), 123456u);
  EXPECT_EQ(SeriesTable::code_of(k), 503);
  EXPECT_TRUE(SeriesTable::service_source_of(k));
  EXPECT_EQ(SeriesTable::consumer_of(k), 99999u);
  EXPECT_NE(SeriesTable::key(SeriesTable::Status, 0, 0, false, 0), 0u);  // never the empty key
}

TEST(KongMetricsTest, StatusCountsSummedAcrossTablesWithKongLabels) {
  KongMetrics m;
  uint32_t r = m.route_key("svc", "rt");
  uint32_t alice = m.consumer_key("alice");
  EXPECT_EQ(m.route_key("svc", "rt"), r);
  EXPECT_EQ(m.consumer_key(""), 0u);
  SeriesTable& a = m.add_table();
  SeriesTable& b = m.add_table();
  a.count_status(r, 200, true, 0);
  a.count_status(r, 200, true, 0);
  b.count_status(r, 200, true, 0);
  b.count_status(r, 404, false, 0);
  a.count_status(r, 200, true, alice);
  std::string out = m.render(enabled_node());
  EXPECT_TRUE(contains(out, "# TYPE kong_http_requests_total counter\n")) << out;
  EXPECT_TRUE(contains(out, "kong_http_requests_total{service=\"svc\",route=\"rt\",code=\"200\",source=\"service\","
                            "workspace=\"default\",consumer=\"\"} 3\n"))
      << out;
  EXPECT_TRUE(contains(out, "kong_http_requests_total{service=\"svc\",route=\"rt\",code=\"404\",source=\"kong\","
                            "workspace=\"default\",consumer=\"\"} 1\n"))
      << out;
  EXPECT_TRUE(contains(out, "code=\"200\",source=\"service\",workspace=\"default\",consumer=\"alice\"} 1\n")) << out;
}

TEST(KongMetricsTest, HistogramBucketsAreCumulativeWithKongBounds) {
  KongMetrics m;
  uint32_t r = m.route_key("s", "r");
  SeriesTable& t = m.add_table();
  t.observe_latencies(r, 0, 30, 31);  // kong 0 -> le 1; upstream 30 -> le 50; request 31 -> le 50
  t.observe_latencies(r, 7, -1, 7000);  // no upstream answer; request past 6000 -> le 10000
  t.observe_latencies(r, 9000, -1, 70000);  // kong past 6000 -> +Inf only
  std::string out = m.render(enabled_node());
  const std::string l = "{service=\"s\",route=\"r\",workspace=\"default\"";
  EXPECT_TRUE(contains(out, "# TYPE kong_kong_latency_ms histogram\n"));
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_bucket" + l + ",le=\"1\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_bucket" + l + ",le=\"5\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_bucket" + l + ",le=\"7\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_bucket" + l + ",le=\"6000\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_bucket" + l + ",le=\"+Inf\"} 3\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_count" + l + "} 3\n")) << out;
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_sum" + l + "} 9007\n")) << out;
  // Every Kong bucket is shown: 17 + Inf for kong, 13 + Inf for the others.
  EXPECT_EQ(lines_with(out, "kong_kong_latency_ms_bucket").size(), 18u);
  EXPECT_EQ(lines_with(out, "kong_request_latency_ms_bucket").size(), 14u);
  EXPECT_TRUE(contains(out, "kong_upstream_latency_ms_bucket" + l + ",le=\"25\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "kong_upstream_latency_ms_bucket" + l + ",le=\"50\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_upstream_latency_ms_count" + l + "} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_upstream_latency_ms_sum" + l + "} 30\n")) << out;
  EXPECT_TRUE(contains(out, "kong_request_latency_ms_bucket" + l + ",le=\"5000\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_request_latency_ms_bucket" + l + ",le=\"10000\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "kong_request_latency_ms_bucket" + l + ",le=\"60000\"} 2\n")) << out;
  EXPECT_TRUE(contains(out, "kong_request_latency_ms_bucket" + l + ",le=\"+Inf\"} 3\n")) << out;
  EXPECT_TRUE(contains(out, "kong_request_latency_ms_sum" + l + "} 77031\n")) << out;
  // As Kong prints them: every bucket line, then the counts, then the sums.
  size_t last_bucket = out.rfind("kong_kong_latency_ms_bucket");
  EXPECT_LT(last_bucket, out.find("kong_kong_latency_ms_count"));
  EXPECT_LT(out.find("kong_kong_latency_ms_count"), out.find("kong_kong_latency_ms_sum"));
}

TEST(KongMetricsTest, UnobservedHistogramIsAbsent) {
  KongMetrics m;
  SeriesTable& t = m.add_table();
  t.observe_latencies(m.route_key("s", "r"), 3, -1, 3);  // a gateway answer: no upstream latency
  std::string out = m.render(enabled_node());
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_count"));
  EXPECT_FALSE(contains(out, "kong_upstream_latency_ms")) << out;
}

TEST(KongMetricsTest, BandwidthDirectionsAndEscaping) {
  KongMetrics m;
  uint32_t r = m.route_key("my \"svc\"", "a\\b");
  SeriesTable& t = m.add_table();
  t.add_bandwidth(r, 0, 100, 0);
  t.add_bandwidth(r, 0, 20, 0);
  std::string out = m.render(enabled_node());
  EXPECT_TRUE(contains(out, "kong_bandwidth_bytes{service=\"my \\\"svc\\\"\",route=\"a\\\\b\",direction=\"ingress\","
                            "workspace=\"default\",consumer=\"\"} 120\n"))
      << out;
  EXPECT_FALSE(contains(out, "direction=\"egress\"")) << out;  // Kong counts a direction only with bytes
}

TEST(KongMetricsTest, NodeGaugesAlwaysPerRequestFamiliesOnlyWhenEnabled) {
  KongMetrics m;
  m.add_table().count_status(m.route_key("s", "r"), 200, true, 0);
  NodeView n;
  n.node_id = "id-1";
  n.version = "0.1.0";
  n.accepted = n.handled = 5;
  n.requests = 9;
  n.active = 2;
  n.writing = 1;
  n.waiting = 1;
  std::string out = m.render(n);
  EXPECT_FALSE(contains(out, "kong_http_requests_total")) << out;
  EXPECT_FALSE(contains(out, "kong_nginx_metric_errors_total")) << out;
  EXPECT_TRUE(contains(out, "# TYPE kong_datastore_reachable gauge\nkong_datastore_reachable 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_node_info{node_id=\"id-1\",version=\"0.1.0\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "kong_nginx_connections_total{node_id=\"id-1\",subsystem=\"http\",state=\"accepted\"} 5\n"))
      << out;
  EXPECT_TRUE(contains(out, "kong_nginx_connections_total{node_id=\"id-1\",subsystem=\"http\",state=\"total\"} 9\n"));
  EXPECT_TRUE(contains(out, "kong_nginx_connections_total{node_id=\"id-1\",subsystem=\"http\",state=\"reading\"} 0\n"));
  EXPECT_TRUE(contains(out, "kong_nginx_requests_total{node_id=\"id-1\",subsystem=\"http\"} 9\n")) << out;
  EXPECT_FALSE(contains(out, "kong_upstream_target_health")) << out;
  n.plugin_enabled = true;
  out = m.render(n);
  EXPECT_TRUE(contains(out, "kong_http_requests_total{")) << out;
  EXPECT_TRUE(contains(out, "kong_nginx_metric_errors_total 0\n")) << out;
}

TEST(KongMetricsTest, TargetHealthOneRowPerState) {
  KongMetrics m;
  NodeView n = enabled_node();
  n.upstream_health = true;
  n.targets.push_back({"up", "127.0.0.1:81", "127.0.0.1:81", "healthy"});
  n.targets.push_back({"up", "nowhere.invalid:80", "", "dns_error"});
  std::string out = m.render(n);
  EXPECT_TRUE(contains(out, "# TYPE kong_upstream_target_health gauge\n"));
  const std::string a = "kong_upstream_target_health{upstream=\"up\",target=\"127.0.0.1:81\",address=\"127.0.0.1:81\",";
  EXPECT_TRUE(contains(out, a + "state=\"healthy\",subsystem=\"http\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, a + "state=\"unhealthy\",subsystem=\"http\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, a + "state=\"healthchecks_off\",subsystem=\"http\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, a + "state=\"dns_error\",subsystem=\"http\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "target=\"nowhere.invalid:80\",address=\"\",state=\"dns_error\",subsystem=\"http\"} 1\n"))
      << out;
  EXPECT_EQ(lines_with(out, "kong_upstream_target_health{").size(), 8u);
}

TEST(KongMetricsTest, FamiliesSortedByName) {
  KongMetrics m;
  SeriesTable& t = m.add_table();
  uint32_t r = m.route_key("s", "r");
  t.count_status(r, 200, true, 0);
  t.add_bandwidth(r, 0, 1, 1);
  t.observe_latencies(r, 1, 1, 1);
  NodeView n = enabled_node();
  n.upstream_health = true;
  n.targets.push_back({"up", "t:1", "1.2.3.4:1", "healthy"});
  std::string out = m.render(n);
  std::vector<std::string> types = lines_with(out, "# TYPE ");
  std::vector<std::string> sorted = types;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(types, sorted) << out;
  EXPECT_EQ(types.size(), 11u) << out;
}

TEST(KongMetricsTest, ManyLabelSetsGrowTheIndexAndKeepEveryCount) {
  KongMetrics m;
  SeriesTable& t = m.add_table();
  std::vector<uint32_t> routes;
  for (int i = 0; i < 300; ++i) routes.push_back(m.route_key("s", "r" + std::to_string(i)));
  for (int round = 0; round < 3; ++round) {
    for (uint32_t r : routes) {
      for (int code : {200, 201, 500}) t.count_status(r, code, true, 0);
      t.observe_latencies(r, 1, 1, 1);  // 50-value blocks: spill over chunk boundaries
    }
  }
  std::string out = m.render(enabled_node());
  EXPECT_EQ(lines_with(out, "kong_http_requests_total{").size(), 900u);
  EXPECT_TRUE(contains(out, "route=\"r299\",code=\"500\",source=\"service\",workspace=\"default\",consumer=\"\"} 3\n"));
  EXPECT_TRUE(contains(out, "kong_kong_latency_ms_count{service=\"s\",route=\"r150\",workspace=\"default\"} 3\n"));
  EXPECT_EQ(t.dropped(), 0u);
}

TEST(KongMetricsTest, WorkersCountWhileTheAdminRenders) {
  KongMetrics m;
  uint32_t r = m.route_key("s", "r");
  std::vector<SeriesTable*> tables = {&m.add_table(), &m.add_table()};
  std::vector<std::thread> workers;
  for (SeriesTable* t : tables) {
    workers.emplace_back([t, r, &m] {
      for (int i = 0; i < 20000; ++i) {
        t->count_status(r, 200 + i % 7, true, 0);
        if (i % 1000 == 0) t->count_status(m.route_key("s", "late" + std::to_string(i)), 200, true, 0);
      }
    });
  }
  for (int i = 0; i < 20; ++i) m.render(enabled_node());
  for (auto& w : workers) w.join();
  std::string out = m.render(enabled_node());
  uint64_t total = 0;
  for (const auto& line : lines_with(out, "kong_http_requests_total{service=\"s\",route=\"r\"")) {
    total += std::stoull(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(total, 40000u);
}

}  // namespace

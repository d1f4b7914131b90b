// The prometheus plugin's log phase on hand-made exchanges: which series a
// request lands in (labels, source, consumer) and Kong's latency rules.
#include <gtest/gtest.h>

#include <string>

#include "config/entities.h"
#include "plugins/bundled.h"
#include "plugins/consumers.h"
#include "plugins/plugin.h"
#include "router/router.h"
#include "shared/kong_metrics.h"

namespace {

using wg::config::Value;
namespace plugins = wg::plugins;
namespace pipeline = wg::pipeline;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string scrape() {
  wg::shared::NodeView n;
  n.plugin_enabled = true;
  return wg::shared::KongMetrics::instance().render(n);
}

class PrometheusPlugin : public ::testing::Test {
 protected:
  void SetUp() override {
    plugins::register_bundled();
    // Names unique to this test: the registry is process-wide.
    decl.services.push_back({});
    decl.services[0].name = "";
    decl.services[0].host = "unit-host.test";
    wg::config::Route r;
    r.id = "unit-route-id";
    r.service = 0;
    decl.routes.push_back(r);
    wg::config::Consumer c;
    c.id = "unit-consumer-id";
    c.username = "unit-alice";
    decl.consumers.push_back(c);
    ctx.consumers = std::make_shared<const plugins::Consumers>(decl);
    ctx.decl = &decl;
    match.route = 0;
    x.match = &match;
  }

  std::shared_ptr<plugins::Plugin> make(Value config) {
    const plugins::PluginType* t = plugins::find_plugin("prometheus");
    EXPECT_NE(t, nullptr);
    EXPECT_EQ(t->priority, 13);
    std::string error;
    auto p = t->make(config, ctx, &error);
    EXPECT_TRUE(p) << error;
    return p;
  }

  wg::config::Declarative decl;
  plugins::BuildContext ctx;
  wg::router::Match match;
  pipeline::Exchange x;
  pipeline::Slot slot;
};

TEST_F(PrometheusPlugin, LabelsSourceAndConsumer) {
  auto p = make(Value::parse(R"({"status_code_metrics": true, "per_consumer": true})"));
  EXPECT_EQ(p->heads(), 0u);
  EXPECT_TRUE(p->runs(pipeline::Phase::Log));
  EXPECT_FALSE(p->runs(pipeline::Phase::Access));
  // An upstream answer, for a known consumer.
  x.log.status = 201;
  x.timings = {100, 110, 150};
  x.consumer_id = "unit-consumer-id";
  p->on_log(x, slot);
  // A plugin's answer after the upstream's head (source kong), no consumer.
  x.local_reply = true;
  x.consumer_id = {};
  x.log.status = 403;
  p->on_log(x, slot);
  // The client left before any answer: nginx's 499, from the gateway.
  x.local_reply = false;
  x.timings = {100, 0, 0};
  x.log.status = 0;
  p->on_log(x, slot);
  std::string out = scrape();
  const std::string l = "kong_http_requests_total{service=\"unit-host.test\",route=\"unit-route-id\",";
  EXPECT_TRUE(contains(out, l + "code=\"201\",source=\"service\",workspace=\"default\",consumer=\"unit-alice\"} 1\n"))
      << out;
  EXPECT_TRUE(contains(out, l + "code=\"403\",source=\"kong\",workspace=\"default\",consumer=\"\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, l + "code=\"499\",source=\"kong\",workspace=\"default\",consumer=\"\"} 1\n")) << out;
}

TEST_F(PrometheusPlugin, SwitchesOffCountNothing) {
  decl.routes[0].id = "unit-route-quiet";
  auto p = make(Value::parse("{}"));
  EXPECT_EQ(p->phases(), 0u);  // Kong's default: nothing per request, no phase to run
  x.log.status = 200;
  p->on_log(x, slot);
  EXPECT_FALSE(contains(scrape(), "unit-route-quiet"));
}

TEST_F(PrometheusPlugin, RefusesAiMetricsByName) {
  const plugins::PluginType* t = plugins::find_plugin("prometheus");
  ASSERT_NE(t, nullptr);
  bool ai = false, wasm = false;
  for (const auto& f : t->config.fields) {
    ai = ai || (f.name == "ai_metrics" && f.unsupported);
    wasm = wasm || (f.name == "wasm_metrics" && f.unsupported);
  }
  EXPECT_TRUE(ai);
  EXPECT_TRUE(wasm);
}

}  // namespace

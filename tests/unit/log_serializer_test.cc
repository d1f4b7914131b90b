// The log plugins' JSON (Kong's kong.log.serialize()) from an exchange's
// facts: shapes, redaction, query decoding, escaping.
#include "plugins/log_serializer.h"

#include <gtest/gtest.h>

#include <string>

#include "config/entities.h"
#include "config/snapshot.h"
#include "config/value.h"

namespace {

using wg::config::Value;

struct Fixture {
  wg::pipeline::Exchange x;
  wg::config::Route route;
  wg::config::ServiceRuntime service;

  Fixture() {
    x.request_headers.push_pseudo(":authority", "example.test:8000");
    x.request_headers.push_literal(":scheme", "http");
    x.request_headers.add("X-A", "1");
    x.request_headers.add("x-a", "2");
    x.request_headers.add("Authorization", "Basic c2VjcmV0");
    x.request_headers.add("X-Odd", "quote\" backslash\\ ctl\x01");
    x.method = "POST";
    x.log.uri = "/p?q=%41&flag&q=2+3&=skip";
    x.server_port = 8000;
    x.client_ip = "10.0.0.1";
    x.log.status = 201;
    x.log.upstream_status = 201;
    x.log.tries = 2;
    x.log.try_peers[0] = "127.0.0.1:81";
    x.log.try_peers[1] = "[::1]:82";
    route.id = "r1";
    route.name = "rt";
    route.paths = {"/p"};
    service.cfg.id = "s1";
    service.cfg.name = "svc";
    service.cfg.host = "up.test";
    x.route = &route;
    x.service = &service;
  }

  Value serialize() {
    std::string out;
    wg::plugins::serialize_log(x, nullptr, out);
    return Value::parse(out);
  }
};

TEST(LogSerializer, RequestAsKongShowsIt) {
  Fixture f;
  Value j = f.serialize();
  const Value& req = j["request"];
  EXPECT_EQ(req["method"], "POST");
  EXPECT_EQ(req["url"], "http://example.test:8000/p?q=%41&flag&q=2+3&=skip");
  EXPECT_EQ(req["querystring"], Value::parse(R"({"q":["A","2 3"],"flag":true})"));
  EXPECT_EQ(req["headers"]["host"], "example.test:8000");
  EXPECT_EQ(req["headers"]["x-a"], Value::parse(R"(["1","2"])"));
  EXPECT_EQ(req["headers"]["authorization"], "REDACTED");
  EXPECT_EQ(req["headers"]["x-odd"], "quote\" backslash\\ ctl\x01");
  EXPECT_FALSE(req["headers"].contains(":scheme"));
}

TEST(LogSerializer, UpstreamRouteServiceAndTries) {
  Fixture f;
  Value j = f.serialize();
  EXPECT_EQ(j["upstream_status"], "201");
  EXPECT_EQ(j["source"], "service");
  EXPECT_EQ(j["tries"], Value::parse(R"([{"ip":"127.0.0.1","port":81},{"ip":"::1","port":82}])"));
  EXPECT_EQ(j["route"]["name"], "rt");
  EXPECT_EQ(j["route"]["service"], Value::parse(R"({"id":"s1"})"));
  EXPECT_EQ(j["service"]["host"], "up.test");
  EXPECT_EQ(j["client_ip"], "10.0.0.1");
  EXPECT_FALSE(j.contains("consumer"));
  EXPECT_FALSE(j.contains("authenticated_entity"));
}

TEST(LogSerializer, LocalAnswerAndCredential) {
  Fixture f;
  f.x.log.upstream_status = 0;
  f.x.log.tries = 0;
  f.x.local_reply = true;
  f.x.local_headers = {{"Content-Type", "application/json"}};
  f.x.credential_id = "c1";
  f.x.consumer_id = "u1";
  Value j = f.serialize();
  EXPECT_EQ(j["upstream_status"], "");
  EXPECT_EQ(j["source"], "exit");
  EXPECT_EQ(j["tries"], Value::array());
  EXPECT_EQ(j["response"]["headers"]["content-type"], "application/json");
  EXPECT_EQ(j["authenticated_entity"], Value::parse(R"({"id":"c1","consumer_id":"u1"})"));
  EXPECT_EQ(j["latencies"]["proxy"], -1);
}

}  // namespace

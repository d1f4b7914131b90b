// kong.response.error's body choice (Kong's get_response_type over the
// Accept header) and the bot-detection plugin, without a gateway.
#include <gtest/gtest.h>

#include <string>

#include "config/value.h"
#include "plugins/plugin.h"

using namespace wg;

namespace {

std::string header(const pipeline::Exchange& x, std::string_view name) {
  for (const auto& [k, v] : x.local_headers) {
    if (k == name) return v;
  }
  return "<none>";
}

// The Content-Type an error answer gets for these Accept lines.
std::string type_for(std::initializer_list<std::string_view> accept) {
  pipeline::Exchange x;
  x.serial = 7;
  for (auto a : accept) x.request_headers.add("Accept", a);
  plugins::exit_error(x, 403);
  return header(x, "Content-Type");
}

TEST(ResponseError, ContentTypeFollowsAccept) {
  EXPECT_EQ(type_for({}), "application/json; charset=utf-8");
  EXPECT_EQ(type_for({"text/html"}), "text/html; charset=utf-8");
  EXPECT_EQ(type_for({"application/xml"}), "application/xml; charset=utf-8");
  EXPECT_EQ(type_for({"text/plain"}), "text/plain; charset=utf-8");
  EXPECT_EQ(type_for({"text/*"}), "text/plain; charset=utf-8");
  EXPECT_EQ(type_for({"application/*"}), "application/json; charset=utf-8");
  EXPECT_EQ(type_for({"*/*"}), "application/json; charset=utf-8");
  EXPECT_EQ(type_for({"image/png"}), "application/json; charset=utf-8");
  // Kong looks media types up case-sensitively (its pattern is not).
  EXPECT_EQ(type_for({"Text/HTML"}), "application/json; charset=utf-8");
  // Highest q wins; the first of equals; q=0 never; an unreadable q counts as 1.
  EXPECT_EQ(type_for({"text/html;q=0.4, application/xml;q=0.8, text/plain;q=0.8"}), "application/xml; charset=utf-8");
  EXPECT_EQ(type_for({"text/html;q=0"}), "application/json; charset=utf-8");
  EXPECT_EQ(type_for({"text/html ; charset=utf-8 ; q=1.000"}), "text/html; charset=utf-8");
  EXPECT_EQ(type_for({"text/plain;q=0.5", "text/html"}), "text/html; charset=utf-8");
  EXPECT_EQ(type_for({"garbage, text/xml, application/xml;q=0.1"}), "application/json; charset=utf-8");
  // gRPC: no body, no Content-Type.
  EXPECT_EQ(type_for({"application/grpc"}), "<none>");
}

TEST(ResponseError, BodiesAndRequestId) {
  pipeline::Exchange x;
  x.serial = 1;
  plugins::exit_error(x, 429, "slow down", {{"Retry-After", "1"}});
  std::string id = header(x, "X-Kong-Request-Id");
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(x.local_status, 429);
  EXPECT_EQ(x.local_body, "{\n  \"message\":\"slow down\",\n  \"request_id\":\"" + id + "\"\n}");
  EXPECT_EQ(header(x, "Retry-After"), "1");
  // The same exchange keeps its id; another one gets another.
  EXPECT_EQ(plugins::request_id(x), id);
  pipeline::Exchange y;
  y.serial = 2;
  EXPECT_NE(plugins::request_id(y), id);
  // No message: Kong's phrase for the status, or its generic one.
  y.request_headers.add("Accept", "text/plain");
  plugins::exit_error(y, 451);
  EXPECT_EQ(y.local_body, "Unavailable for legal reasons\nrequest_id: " + plugins::request_id(y) + "\n");
  plugins::exit_error(y, 499);
  EXPECT_EQ(y.local_body, "The upstream server responded with 499\nrequest_id: " + plugins::request_id(y) + "\n");
}

std::shared_ptr<plugins::Plugin> bot_detection(const char* json) {
  plugins::register_bundled();
  const plugins::PluginType* t = plugins::find_plugin("bot-detection");
  EXPECT_NE(t, nullptr);
  EXPECT_EQ(t->priority, 2500);
  EXPECT_TRUE(t->no_consumer);
  std::string error;
  auto p = t->make(config::Value::parse(json), {}, &error);
  EXPECT_NE(p, nullptr) << error;
  return p;
}

int status_for(const plugins::Plugin& p, std::initializer_list<std::string_view> agents) {
  pipeline::Exchange x;
  for (auto a : agents) x.request_headers.add("User-Agent", a);
  pipeline::Slot slot;
  pipeline::Verdict v = p.on_phase(pipeline::Phase::Access, x, slot);
  return v == pipeline::Verdict::Respond ? x.local_status : 200;
}

TEST(BotDetection, RulesListsAndCache) {
  auto p = bot_detection(R"({"allow": ["^curl-ok"], "deny": ["Firefox/1\\d\\d"]})");
  EXPECT_EQ(status_for(*p, {}), 200);
  EXPECT_EQ(status_for(*p, {"Mozilla/5.0 Firefox/99.0"}), 200);
  EXPECT_EQ(status_for(*p, {"Mozilla/5.0 Firefox/120.0"}), 403);
  EXPECT_EQ(status_for(*p, {"Googlebot/2.1"}), 403);
  EXPECT_EQ(status_for(*p, {"okhttp/4.9.0"}), 403);
  EXPECT_EQ(status_for(*p, {"curl/7.43.0"}), 200);  // not a bot to Kong
  EXPECT_EQ(status_for(*p, {"HelloWorld"}), 200);
  EXPECT_EQ(status_for(*p, {"aws-cli/2.13.0 Python/3.11"}), 403);
  EXPECT_EQ(status_for(*p, {"curl-ok Googlebot/2.1"}), 200);  // allow first
  EXPECT_EQ(status_for(*p, {"  curl-ok Googlebot/2.1"}), 200);  // stripped before matching
  EXPECT_EQ(status_for(*p, {"a", "b"}), 400);
  // Answers from the cache are the same, many times over and past its size.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(status_for(*p, {"Googlebot/2.1"}), 403);
  for (int i = 0; i < 10050; ++i) status_for(*p, {"agent " + std::to_string(i)});
  EXPECT_EQ(status_for(*p, {"Googlebot/2.1"}), 403);
  EXPECT_EQ(status_for(*p, {"Mozilla/5.0 Firefox/99.0"}), 200);
  // A new instance (a new config) has its own verdicts.
  auto q = bot_detection(R"({"allow": ["Googlebot"]})");
  EXPECT_EQ(status_for(*q, {"Googlebot/2.1"}), 200);
  EXPECT_EQ(status_for(*p, {"Googlebot/2.1"}), 403);
}

}  // namespace

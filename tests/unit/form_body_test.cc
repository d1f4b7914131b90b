#include "admin/form_body.h"

#include <gtest/gtest.h>

#include "config/entity_schemas.h"
#include "plugins/plugin.h"

using wg::admin::infer_entity_types;
using wg::admin::parse_form;
using wg::config::Value;

namespace {

Value form(const std::string& body) {
  Value v;
  std::string error;
  EXPECT_TRUE(parse_form(body, &v, &error)) << error;
  return v;
}

TEST(FormBody, NestedKeysAppendsAndIndexes) {
  EXPECT_EQ(form("name=a+b&config.minute=5&config[policy]=local"),
            Value::parse(R"({"name":"a b","config":{"minute":"5","policy":"local"}})"));
  EXPECT_EQ(form("paths[]=/a&paths[]=%2Fb"), Value::parse(R"({"paths":["/a","/b"]})"));
  EXPECT_EQ(form("paths[1]=/a&paths[2]=/b"), Value::parse(R"({"paths":{"1":"/a","2":"/b"}})"));
  EXPECT_EQ(form(""), Value::object());
}

TEST(FormBody, ContradictingKeysAreRefused) {
  Value v;
  std::string error;
  EXPECT_FALSE(parse_form("a=1&a.b=2", &v, &error));
  EXPECT_NE(error.find("a.b"), std::string::npos);
}

TEST(FormBody, TypesFollowTheSchema) {
  Value route = form("paths[2]=/y&paths[1]=/x&methods=GET&strip_path=false&regex_priority=3");
  infer_entity_types(*wg::config::entity_schema("routes"), route);
  EXPECT_EQ(route, Value::parse(R"({"paths":["/x","/y"],"methods":["GET"],"strip_path":false,"regex_priority":3})"));
  wg::plugins::register_bundled();
  Value plugin = form("name=rate-limiting&config.minute=5&config.fault_tolerant=true");
  infer_entity_types(*wg::config::entity_schema("plugins"), plugin);
  EXPECT_EQ(plugin["config"]["minute"], 5);
  EXPECT_EQ(plugin["config"]["fault_tolerant"], true);
  Value bad = form("port=abc");
  infer_entity_types(*wg::config::entity_schema("services"), bad);
  EXPECT_EQ(bad["port"], "abc");  // left for validation to refuse
}

}  // namespace

namespace {

TEST(FormBody, MultipartPartsAreFormFields) {
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nm\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"config.minute\"\r\n\r\n5\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"paths[]\"\r\n\r\n/m\r\n--XyZ--\r\n";
  Value v;
  std::string error;
  ASSERT_TRUE(wg::admin::parse_multipart(body, "multipart/form-data; boundary=XyZ", &v, &error)) << error;
  EXPECT_EQ(v, Value::parse(R"({"name":"m","config":{"minute":"5"},"paths":["/m"]})"));
  EXPECT_FALSE(wg::admin::parse_multipart("--XyZ\r\nname=\"a\"", "multipart/form-data; boundary=XyZ", &v, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(wg::admin::parse_multipart(body, "multipart/form-data", &v, &error));
}

}  // namespace

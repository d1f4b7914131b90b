// Gateway errors as gRPC answers, by Kong's table (src/http/grpc_status).
#include "http/grpc_status.h"

#include <gtest/gtest.h>

namespace {

using namespace wg::http;

TEST(GrpcStatus, KongsTableAndItsFallbacks) {
  EXPECT_EQ(grpc_status_of_http(200), 0u);
  EXPECT_EQ(grpc_status_of_http(401), 16u);
  EXPECT_EQ(grpc_status_of_http(403), 7u);
  EXPECT_EQ(grpc_status_of_http(404), 5u);
  EXPECT_EQ(grpc_status_of_http(429), 8u);
  EXPECT_EQ(grpc_status_of_http(499), 1u);
  EXPECT_EQ(grpc_status_of_http(502), 13u);  // not in the table: another 5xx
  EXPECT_EQ(grpc_status_of_http(503), 14u);
  EXPECT_EQ(grpc_status_of_http(504), 4u);
  EXPECT_EQ(grpc_status_of_http(413), 3u);  // another 4xx
  EXPECT_EQ(grpc_status_of_http(204), 0u);
  EXPECT_EQ(grpc_status_of_http(302), 2u);
}

TEST(GrpcStatus, MessageIsTheGivenOneElseKongsName) {
  GrpcAnswer a = grpc_answer(401, "No API key found in request");
  EXPECT_EQ(a.status, 16u);
  EXPECT_EQ(a.message, "No API key found in request");
  a = grpc_answer(503, "");
  EXPECT_EQ(a.status, 14u);
  EXPECT_EQ(a.message, "Unavailable");
  EXPECT_EQ(grpc_status_name(1), "Canceled");
  EXPECT_EQ(grpc_status_name(16), "Unauthenticated");
  EXPECT_EQ(grpc_status_name(17), "");
}

TEST(GrpcStatus, GrpcRequestsAreHttp2WithAGrpcContentType) {
  EXPECT_TRUE(is_grpc_request("application/grpc", true));
  EXPECT_TRUE(is_grpc_request("application/grpc+proto", true));
  EXPECT_FALSE(is_grpc_request("application/grpc", false));
  EXPECT_FALSE(is_grpc_request("application/json", true));
  EXPECT_FALSE(is_grpc_request("", true));
}

}  // namespace

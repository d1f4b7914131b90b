// gRPC's bytes and text (src/client/grpc_wire): message framing, the
// grpc-timeout header, statuses from trailers and HTTP statuses.
#include "client/grpc_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace grpc = wg::client::grpc;

TEST(GrpcWire, FramesAMessageWithItsBigEndianLength) {
  std::string out;
  grpc::append_message(out, "hi");
  EXPECT_EQ(out, std::string("\0\0\0\0\x02" "hi", 7));
  out.clear();
  grpc::append_message(out, std::string(0x10203, 'x'));
  EXPECT_EQ(out.substr(0, 5), std::string("\0\0\x01\x02\x03", 5));
}

TEST(GrpcWire, ReadsMessagesSplitAnywhere) {
  std::string wire;
  grpc::append_message(wire, "first");
  grpc::append_message(wire, "");
  grpc::append_message(wire, "third one");
  // Every split point, byte by byte and in two pieces.
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    grpc::MessageReader reader(1024);
    std::vector<std::string> got;
    ASSERT_EQ(reader.feed(std::string_view(wire).substr(0, cut), &got), grpc::MessageReader::Result::Ok);
    ASSERT_EQ(reader.feed(std::string_view(wire).substr(cut), &got), grpc::MessageReader::Result::Ok);
    EXPECT_EQ(got, (std::vector<std::string>{"first", "", "third one"})) << cut;
    EXPECT_EQ(reader.pending(), 0u);
  }
  grpc::MessageReader reader(1024);
  std::vector<std::string> got;
  for (char c : wire) reader.feed(std::string_view(&c, 1), &got);
  EXPECT_EQ(got.size(), 3u);
}

TEST(GrpcWire, RefusesCompressedAndOversizedMessagesAndKeepsACutOne) {
  std::vector<std::string> got;
  grpc::MessageReader compressed(1024);
  EXPECT_EQ(compressed.feed(std::string("\x01\0\0\0\x01" "x", 6), &got), grpc::MessageReader::Result::Compressed);
  grpc::MessageReader small(3);
  EXPECT_EQ(small.feed(std::string("\0\0\0\0\x04", 5), &got), grpc::MessageReader::Result::TooLarge);
  grpc::MessageReader cut(1024);
  EXPECT_EQ(cut.feed(std::string("\0\0\0\0\x04" "ab", 7), &got), grpc::MessageReader::Result::Ok);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(cut.pending(), 7u);
}

TEST(GrpcWire, TimeoutHeaderUsesAtMostEightDigits) {
  EXPECT_EQ(grpc::timeout_header(1), "1m");
  EXPECT_EQ(grpc::timeout_header(99999999), "99999999m");
  EXPECT_EQ(grpc::timeout_header(100000000), "100000S");
  EXPECT_EQ(grpc::timeout_header(100000001), "100001S");  // rounded up, never shorter
  EXPECT_EQ(grpc::timeout_header(4294967295u), "4294968S");
}

TEST(GrpcWire, StatusFromTrailers) {
  uint32_t code = 99;
  std::string message;
  EXPECT_TRUE(grpc::parse_status({{"grpc-status", "5"}, {"grpc-message", "not%20here%e2%9c%93%zz"}}, &code, &message));
  EXPECT_EQ(code, 5u);
  EXPECT_EQ(message, "not here\xe2\x9c\x93%zz");
  EXPECT_TRUE(grpc::parse_status({{"grpc-status", "x1"}}, &code, &message));
  EXPECT_EQ(code, grpc::kUnknown);
  EXPECT_FALSE(grpc::parse_status({{"x-other", "1"}}, &code, &message));
}

TEST(GrpcWire, HttpStatusesMapAsTheGrpcSpecSays) {
  EXPECT_EQ(grpc::status_of_http(400), grpc::kInternal);
  EXPECT_EQ(grpc::status_of_http(401), grpc::kUnauthenticated);
  EXPECT_EQ(grpc::status_of_http(403), grpc::kPermissionDenied);
  EXPECT_EQ(grpc::status_of_http(404), grpc::kUnimplemented);
  EXPECT_EQ(grpc::status_of_http(503), grpc::kUnavailable);
  EXPECT_EQ(grpc::status_of_http(500), grpc::kUnknown);
}

}  // namespace

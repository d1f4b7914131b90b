// gRPC over HTTP/2, the parts that are plain bytes and text (no I/O): the
// 5-byte length-prefixed message framing, the grpc-timeout header, the
// status codes and how an answer's headers and trailers become a status.
// The HTTP/2 connection (h2_connection.h) moves the bytes; the gRPC client
// (grpc_client.h) puts the two together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wg::client::grpc {

// google.rpc.Code, as gRPC status codes travel in grpc-status.
enum Status : uint32_t {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kUnauthenticated = 16,
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

// Appends one message frame: flag 0 (not compressed), u32 big-endian length, payload.
void append_message(std::string& out, std::string_view payload);

// Splits a response body into messages as its bytes arrive. A frame may
// span many DATA frames, and a DATA frame may hold many messages.
class MessageReader {
 public:
  enum class Result { Ok, Compressed, TooLarge };
  explicit MessageReader(size_t max_message) : max_message_(max_message) {}
  // Consumes data; each whole message goes to out. Stops at the first error.
  Result feed(std::string_view data, std::vector<std::string>* out);
  // Bytes of a message not yet complete (non-zero at the end of the stream: a cut message).
  size_t pending() const { return pending_.size(); }

 private:
  size_t max_message_;
  std::string pending_;  // the prefix and payload of the message being read
};

// grpc-timeout's value for a deadline in milliseconds: at most 8 digits,
// so large values go to a coarser unit ("100m", "3600000m" → "3600S").
std::string timeout_header(uint32_t ms);

// The status an HTTP answer without grpc-status stands for (the gRPC
// spec's "HTTP to gRPC status code mapping").
Status status_of_http(int http_status);

// The status of a finished call from the last header block that carries
// grpc-status (trailers, or the headers of a trailers-only answer):
// false when there is none (the answer is then malformed or not gRPC).
bool parse_status(const Metadata& fields, uint32_t* code, std::string* message);

}  // namespace wg::client::grpc

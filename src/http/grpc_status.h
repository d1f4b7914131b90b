// A gateway answer to a gRPC request, the way Kong gives it
// (kong.response.exit / kong.response.error on a gRPC request): the HTTP
// status becomes a grpc-status by Kong's table, the message goes in
// grpc-message (Kong's status name when there is none) and the body is
// empty. Ready for the proxy's HTTP/2 sessions: HTTP/1.1 carries no gRPC.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wg::http {

// Kong's test: the request's Content-Type starts with application/grpc and
// it came over HTTP/2.
bool is_grpc_request(std::string_view content_type, bool http2);

// Kong's HTTP_TO_GRPC_STATUS, with its fallbacks: another 5xx is 13
// INTERNAL, another 4xx 3 INVALID_ARGUMENT, another 2xx 0 OK, anything
// else 2 UNKNOWN.
uint32_t grpc_status_of_http(int http_status);

// Kong's name of a gRPC status ("NotFound", "Unavailable", …); "" past 16.
std::string_view grpc_status_name(uint32_t code);

struct GrpcAnswer {
  uint32_t status = 0;  // grpc-status
  std::string message;  // grpc-message
};
// What a gateway error of http_status with `message` (empty: none, as
// kong.response.error gives none to gRPC) becomes; sent as the HTTP
// status with Content-Type application/grpc, Content-Length 0, and these
// two fields.
GrpcAnswer grpc_answer(int http_status, std::string_view message);

}  // namespace wg::http

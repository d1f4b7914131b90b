#include "http/grpc_status.h"

namespace wg::http {

bool is_grpc_request(std::string_view content_type, bool http2) {
  return http2 && content_type.substr(0, 16) == "application/grpc";
}

uint32_t grpc_status_of_http(int http_status) {
  switch (http_status) {
    case 200: return 0;
    case 400: return 3;
    case 401: return 16;
    case 403: return 7;
    case 404: return 5;
    case 409: return 6;
    case 429: return 8;
    case 499: return 1;
    case 500: return 13;
    case 501: return 12;
    case 503: return 14;
    case 504: return 4;
    default: break;
  }
  if (http_status >= 500 && http_status <= 599) return 13;
  if (http_status >= 400 && http_status <= 499) return 3;
  if (http_status >= 200 && http_status <= 299) return 0;
  return 2;
}

std::string_view grpc_status_name(uint32_t code) {
  static constexpr std::string_view kNames[] = {
      "OK",       "Canceled",         "Unknown",  "InvalidArgument",   "DeadlineExceeded", "NotFound",
      "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
      "Unimplemented", "Internal",        "Unavailable",       "DataLoss",          "Unauthenticated",
  };
  return code < std::size(kNames) ? kNames[code] : std::string_view();
}

GrpcAnswer grpc_answer(int http_status, std::string_view message) {
  GrpcAnswer a;
  a.status = grpc_status_of_http(http_status);
  a.message.assign(message.empty() ? grpc_status_name(a.status) : message);
  return a;
}

}  // namespace wg::http

#include "client/grpc_wire.h"

#include "http/form_decode.h"

#include <algorithm>

namespace wg::client::grpc {

void append_message(std::string& out, std::string_view payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  const char prefix[5] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                          static_cast<char>(n)};
  out.append(prefix, 5).append(payload);
}

MessageReader::Result MessageReader::feed(std::string_view data, std::vector<std::string>* out) {
  while (!data.empty()) {
    if (pending_.size() < 5) {
      size_t take = std::min(data.size(), 5 - pending_.size());
      pending_.append(data.substr(0, take));
      data.remove_prefix(take);
      if (pending_.size() < 5) return Result::Ok;
      if (pending_[0] != 0) return Result::Compressed;  // we offer no grpc-accept-encoding
    }
    const auto* p = reinterpret_cast<const unsigned char*>(pending_.data());
    const size_t len = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
    if (len > max_message_) return Result::TooLarge;
    size_t take = std::min(data.size(), 5 + len - pending_.size());
    pending_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (pending_.size() == 5 + len) {
      out->emplace_back(pending_, 5);
      pending_.clear();
    }
  }
  return Result::Ok;
}

std::string timeout_header(uint32_t ms) {
  // Units from fine to coarse: milliseconds, seconds, minutes, hours.
  static constexpr struct {
    uint32_t per_ms;
    char unit;
  } kUnits[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};
  for (const auto& u : kUnits) {
    uint64_t v = (uint64_t{ms} + u.per_ms - 1) / u.per_ms;  // round up: never a shorter deadline
    if (v <= 99999999) return std::to_string(v) + u.unit;
  }
  return "99999999H";
}

Status status_of_http(int http_status) {
  switch (http_status) {
    case 400: return kInternal;
    case 401: return kUnauthenticated;
    case 403: return kPermissionDenied;
    case 404: return kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504: return kUnavailable;
    default: return kUnknown;
  }
}

bool parse_status(const Metadata& fields, uint32_t* code, std::string* message) {
  bool found = false;
  for (const auto& [k, v] : fields) {
    if (k == "grpc-status") {
      uint64_t n = 0;
      bool digits = !v.empty() && v.size() <= 9;
      for (char c : v) {
        digits = digits && c >= '0' && c <= '9';
        n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      *code = digits ? static_cast<uint32_t>(n) : kUnknown;
      found = true;
    } else if (k == "grpc-message") {
      *message = http::percent_decode(v);
    }
  }
  return found;
}

}  // namespace wg::client::grpc

// Kong's normalisation of the request path before route matching:
// percent-escapes upper-cased, escapes of unreserved characters decoded,
// dot segments removed (RFC 3986 5.2.4), duplicate slashes merged.
#pragma once

#include <string>
#include <string_view>

namespace wg::router {

// Returns false when the path has a malformed escape. When the path is already
// normal, *out_view points at the input and scratch is untouched (no copy).
bool normalize_path(std::string_view in, std::string& scratch, std::string_view* out_view);

}  // namespace wg::router

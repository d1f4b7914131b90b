#pragma once

#include <string>
#include <string_view>

namespace wg::http {

// The percent-decoded text of one part of a query string or form body, with
// '+' as a space (as ngx.req.get_uri_args and Kong's form parsing read it); a
// '%' not followed by two hex digits stays as written.
std::string form_decode(std::string_view s);

// The same without the '+' rule: plain percent-decoding (RFC 3986), as a
// grpc-message is read.
std::string percent_decode(std::string_view s);

}  // namespace wg::http

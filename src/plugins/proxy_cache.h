// proxy-cache's cache key, as Kong's cache_key.lua builds it (exposed for
// the unit tests; the plugin itself is in proxy_cache.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/header_map.h"
#include "plugins/uri_args.h"

namespace wg::plugins::proxy_cache {

// "consumer:route" for an authenticated request on a route, "route" on a
// route, "default" otherwise.
void append_prefix(std::string& out, std::string_view consumer_id, std::string_view route_id);
// Kong's `uri` part: the request line with everything from the first '?'
// cut ("GET /a" for "GET /a?x HTTP/1.1", but "GET /a HTTP/1.1" without a
// query), lower-cased when ignore_uri_case.
void append_request_uri(std::string& out, std::string_view method, std::string_view target,
                        std::string_view protocol, bool ignore_case);
// "name=value(:name=value)*" of the query arguments named in `vary`, in
// that order, or of all of them sorted by name when `vary` is empty. A
// repeated name's values are sorted and joined with ','; a bare flag is
// its name alone.
void append_params(std::string& out, const Args& args, const std::vector<std::string>& vary);
// The same for the request headers named in `vary` (nothing when empty).
void append_headers(std::string& out, const http::HeaderMap& headers, const std::vector<std::string>& vary);
// The key itself: the hex SHA-256 of "prefix|method|uri|params|headers".
std::string digest(std::string_view parts);

}  // namespace wg::plugins::proxy_cache

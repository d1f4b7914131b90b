// Query strings and form bodies as Kong's PDK reads and writes them
// (kong.request.get_query, kong.service.request.set_query / set_path), and
// the upstream URI they change (Exchange::upstream_uri).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/exchange.h"

namespace wg::plugins {

// Decoded arguments in the order they came; a name may repeat. `flag`
// marks an argument without '=' (Kong's `true`), written back bare.
struct Arg {
  std::string name, value;
  bool flag = false;
};
using Args = std::vector<Arg>;

// "a=1&b=x%20y&c" -> {a:1, b:"x y", c:flag}; '+' is a space, bad escapes
// are kept as they came; empty pieces are skipped.
Args decode_args(std::string_view query);
// Kong's set_query: names sorted (a name's values keep their order), names
// and values percent-encoded but for letters, digits and "-._~".
std::string encode_args_sorted(const Args& args);
// ngx.encode_args order (as given), for form bodies.
std::string encode_args(const Args& args);
std::string percent_decode(std::string_view s, bool plus_is_space);

// The upstream URI's parts, and Kong's setters for them.
std::string_view upstream_path(const pipeline::Exchange& x);
std::string_view upstream_query(const pipeline::Exchange& x);  // without '?', "" when none
void set_upstream_path(pipeline::Exchange& x, std::string_view path);  // escaped as Kong does
void set_upstream_query(pipeline::Exchange& x, std::string_view query);  // raw; "" drops the '?'

}  // namespace wg::plugins

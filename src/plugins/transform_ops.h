// What request-transformer and response-transformer share: Kong's
// "name:value" config lists for each operation (remove, rename, replace,
// add, append) and the checks on their elements.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plugins/bundled.h"

namespace wg::plugins {

// Kong's "name:value" element: the name before the first ':', then any run
// of ':' skipped, the rest is the value (nothing trimmed).
struct Pair {
  std::string name, value;
};
Pair split(const std::string& e);

// One part's (headers, json, querystring, body) operations, in Kong's order.
struct Ops {
  std::vector<std::string> remove;
  std::vector<Pair> rename, replace, add, append;
  bool empty() const { return remove.empty() && rename.empty() && replace.empty() && add.empty() && append.empty(); }
};
std::vector<std::string> list(const config::Value& c, const char* op, const char* part);
Ops ops(const config::Value& c, const char* part);

// Element checks, with Kong's messages.
std::optional<std::string> pair_format(const config::Value& v);  // "name:value"
std::optional<std::string> valid_header(const std::string& name);
// "old:new", both valid header names.
std::optional<std::string> rename_header(const config::Value& v);
// A required array of strings, empty by default, each checked by `check`.
Field strings(const char* name, schema::Custom check = nullptr);

}  // namespace wg::plugins

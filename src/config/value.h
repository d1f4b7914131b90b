// The one value model every config input is read into: JSON with object
// keys in the order written (so dumps and filter configs keep the user's
// order). YAML is converted once, on read, with YAML 1.2 core-schema typing
// of plain scalars; quoted scalars stay strings.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wg::config {

using Value = nlohmann::ordered_json;

// Parses YAML or JSON text. On failure returns false and sets *error to
// `cannot parse YAML/JSON at line N: why`.
bool parse_value(std::string_view text, Value& out, std::string* error);

// Kong's notion of "set": absent and JSON null are both unset.
inline bool is_set(const Value& v) { return !v.is_null(); }

// Short rendering for messages: strings bare, everything else as JSON.
std::string show(const Value& v);

// JSON text that never throws: bytes that are not UTF-8 become U+FFFD.
std::string to_json(const Value& v, int indent = -1);

}  // namespace wg::config

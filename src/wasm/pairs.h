// The Proxy-Wasm map format for header lists: a u32 count, then a u32 key
// size and u32 value size per pair, then each key and value followed by NUL
// (little-endian, as Wasm memory is).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/header_map.h"

namespace wg::wasm {

using http::HeaderList;
using http::HeaderMap;

std::string serialize_pairs(const HeaderList& list);
// False (and an empty *out) when data is not a well-formed map; an empty
// input is an empty map. At most 1024 pairs.
bool parse_pairs(std::string_view data, HeaderList* out);

// A header map in the same format, written without a HeaderList between;
// names lower-cased (what filters iterating the pairs see, as in Envoy).
size_t serialized_size(const HeaderMap& m);
void serialize_to(const HeaderMap& m, char* out);  // serialized_size(m) bytes
std::string serialize(const HeaderMap& m);

}  // namespace wg::wasm

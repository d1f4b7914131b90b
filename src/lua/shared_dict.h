// ngx.shared.DICT: named key-value stores every worker's Lua state sees
// (declared with --lua-shared-dict NAME:SIZE, as lua_shared_dict in nginx).
// One mutex per dictionary; values are strings, numbers or booleans, with
// an optional expiry; a dictionary refuses a store past its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wg::lua {

struct DictValue {
  enum class Kind : uint8_t { Nil, String, Number, Boolean } kind = Kind::Nil;
  std::string text;
  double number = 0;
  bool boolean = false;
};

// One dictionary of --lua-shared-dict.
struct DictSpec {
  std::string name;
  size_t bytes = 0;
};
// Parses a "name:size[k|m],..." list (sizes in bytes, KiB or MiB, at most
// 1 TiB); false with *error ("invalid shared dictionary 'ITEM' (NAME:SIZE,
// e.g. counters:1m)") on a malformed item.
bool parse_shared_dicts(std::string_view list, std::vector<DictSpec>* out, std::string* error);

// Declares the dictionaries of a "name:size[k|m],..." list (sizes in bytes,
// KiB or MiB); false with *error on a malformed list. Once per process:
// later calls change nothing.
bool declare_shared_dicts(const std::string& list, std::string* error);
// The dictionary's index, or -1 when none has that name.
int shared_dict(std::string_view name);

// The value of key (Kind::Nil when absent or expired).
DictValue dict_get(int dict, std::string_view key, uint64_t now_ms);
// mode: 0 set, 1 add (fails "exists"), 2 replace (fails "not found"); a
// Nil value deletes. ttl_ms 0: no expiry. Returns "" or why it failed.
std::string dict_set(int dict, std::string_view key, const DictValue& v, uint64_t ttl_ms, int mode, uint64_t now_ms);
// Adds by to a number (init when absent, if has_init); the new value, or
// *error ("not found", "not a number").
double dict_incr(int dict, std::string_view key, double by, bool has_init, double init, uint64_t now_ms,
                 std::string* error);
void dict_flush_all(int dict);

}  // namespace wg::lua

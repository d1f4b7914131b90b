#include "lua/shared_dict.h"

#include <memory>
#include <mutex>
#include <unordered_map>

namespace wg::lua {
namespace {

struct Entry {
  DictValue value;
  uint64_t expires_ms = 0;  // 0: never
};

struct Dict {
  std::string name;
  size_t capacity = 0;
  size_t used = 0;
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;
};

// What an entry counts against the dictionary's size (its bytes and a
// fixed overhead, as nginx's slab entries).
size_t cost(std::string_view key, const DictValue& v) { return key.size() + v.text.size() + 64; }

std::vector<std::unique_ptr<Dict>>& dicts() {
  static std::vector<std::unique_ptr<Dict>> d;
  return d;
}

bool parse_size(std::string_view s, size_t* out) {
  if (s.empty()) return false;
  size_t mult = 1;
  char last = s.back();
  if (last == 'k' || last == 'K') mult = 1024;
  if (last == 'm' || last == 'M') mult = 1024 * 1024;
  if (mult != 1) s.remove_suffix(1);
  // At most 1 TiB: more digits would overflow (and no machine has it).
  constexpr size_t kMax = size_t{1} << 40;
  size_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<size_t>(c - '0');
    if (n > kMax) return false;
  }
  if (n * mult > kMax) return false;
  *out = n * mult;
  return n > 0;
}

// The live entry of key, or nullptr (an expired one is removed).
Entry* find(Dict& d, std::string_view key, uint64_t now_ms) {
  auto it = d.entries.find(std::string(key));
  if (it == d.entries.end()) return nullptr;
  if (it->second.expires_ms != 0 && it->second.expires_ms <= now_ms) {
    d.used -= cost(it->first, it->second.value);
    d.entries.erase(it);
    return nullptr;
  }
  return &it->second;
}

}  // namespace

bool parse_shared_dicts(std::string_view list, std::vector<DictSpec>* out, std::string* error) {
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string_view::npos) end = list.size();
    std::string_view item = list.substr(start, end - start);
    start = end + 1;
    size_t colon = item.find(':');
    DictSpec spec;
    if (colon == std::string_view::npos || colon == 0 || !parse_size(item.substr(colon + 1), &spec.bytes)) {
      *error = "invalid shared dictionary '" + std::string(item) + "' (NAME:SIZE, e.g. counters:1m)";
      return false;
    }
    spec.name = std::string(item.substr(0, colon));
    out->push_back(std::move(spec));
  }
  return true;
}

bool declare_shared_dicts(const std::string& list, std::string* error) {
  static std::once_flag once;
  bool ok = true;
  std::call_once(once, [&] {
    std::vector<DictSpec> specs;
    ok = parse_shared_dicts(list, &specs, error);
    if (!ok) return;
    for (DictSpec& spec : specs) {
      auto d = std::make_unique<Dict>();
      d->name = std::move(spec.name);
      d->capacity = spec.bytes;
      dicts().push_back(std::move(d));
    }
  });
  return ok;
}

int shared_dict(std::string_view name) {
  for (size_t i = 0; i < dicts().size(); ++i) {
    if (dicts()[i]->name == name) return static_cast<int>(i);
  }
  return -1;
}

DictValue dict_get(int dict, std::string_view key, uint64_t now_ms) {
  Dict& d = *dicts()[static_cast<size_t>(dict)];
  std::lock_guard<std::mutex> lock(d.mu);
  Entry* e = find(d, key, now_ms);
  return e == nullptr ? DictValue{} : e->value;
}

std::string dict_set(int dict, std::string_view key, const DictValue& v, uint64_t ttl_ms, int mode, uint64_t now_ms) {
  Dict& d = *dicts()[static_cast<size_t>(dict)];
  std::lock_guard<std::mutex> lock(d.mu);
  Entry* e = find(d, key, now_ms);
  if (mode == 1 && e != nullptr) return "exists";
  if (mode == 2 && e == nullptr) return "not found";
  size_t old_cost = e != nullptr ? cost(key, e->value) : 0;
  if (v.kind == DictValue::Kind::Nil) {
    if (e != nullptr) {
      d.used -= old_cost;
      d.entries.erase(std::string(key));
    }
    return "";
  }
  size_t new_cost = cost(key, v);
  if (d.used - old_cost + new_cost > d.capacity) return "no memory";
  d.used = d.used - old_cost + new_cost;
  Entry& slot = e != nullptr ? *e : d.entries[std::string(key)];
  slot.value = v;
  slot.expires_ms = ttl_ms == 0 ? 0 : now_ms + ttl_ms;
  return "";
}

double dict_incr(int dict, std::string_view key, double by, bool has_init, double init, uint64_t now_ms,
                 std::string* error) {
  Dict& d = *dicts()[static_cast<size_t>(dict)];
  std::lock_guard<std::mutex> lock(d.mu);
  Entry* e = find(d, key, now_ms);
  if (e == nullptr) {
    if (!has_init) {
      *error = "not found";
      return 0;
    }
    DictValue v;
    v.kind = DictValue::Kind::Number;
    v.number = init + by;
    if (d.used + cost(key, v) > d.capacity) {
      *error = "no memory";
      return 0;
    }
    d.used += cost(key, v);
    d.entries[std::string(key)] = Entry{v, 0};
    return v.number;
  }
  if (e->value.kind != DictValue::Kind::Number) {
    *error = "not a number";
    return 0;
  }
  e->value.number += by;
  return e->value.number;
}

void dict_flush_all(int dict) {
  Dict& d = *dicts()[static_cast<size_t>(dict)];
  std::lock_guard<std::mutex> lock(d.mu);
  d.entries.clear();
  d.used = 0;
}

}  // namespace wg::lua

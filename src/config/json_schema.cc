#include "config/json_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "router/regex.h"

namespace wg::config {

using nlohmann::json;
using Pointer = json::json_pointer;

namespace {

enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kString = 32,
  kInteger = 64,
};

unsigned type_bit(std::string_view name) {
  static constexpr std::pair<std::string_view, unsigned> kNames[] = {
      {"null", kNull},     {"boolean", kBoolean}, {"object", kObject},  {"array", kArray},
      {"number", kNumber}, {"string", kString},   {"integer", kInteger},
  };
  for (const auto& [n, bit] : kNames) {
    if (n == name) return bit;
  }
  return 0;
}

// Draft 6+ semantics: 3.0 is an integer. Filter configs often come from YAML
// or Lua, where the int/float distinction of the source text is lost anyway.
bool is_integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

unsigned value_bits(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return kNull;
    case json::value_t::boolean: return kBoolean;
    case json::value_t::object: return kObject;
    case json::value_t::array: return kArray;
    case json::value_t::string: return kString;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return kNumber | (is_integral(v) ? kInteger : 0u);
    default: return 0;
  }
}

// long double holds every int64/uint64 and double exactly on the platforms we
// build for (x87 80-bit, or IEEE quad), so mixed comparisons are exact.
long double as_number(const json& v) {
  if (v.is_number_unsigned()) return static_cast<long double>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<long double>(v.get<std::int64_t>());
  return static_cast<long double>(v.get<double>());
}

// Compact JSON for messages. Replaces invalid UTF-8 (dump() would throw on it)
// and cuts long values without splitting a code point.
std::string brief(const json& v) {
  constexpr size_t kMax = 64;
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() <= kMax) return s;
  size_t cut = kMax - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;  // count lead bytes only
  return n;
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

struct JsonSchema::Node {
  struct Bound {
    json limit;
    bool exclusive = false;
  };
  struct PatternProperty {
    std::shared_ptr<const router::Regex> re;
    const Node* schema = nullptr;
  };

  bool reject_all = false;    // the `false` schema
  const Node* ref = nullptr;  // set: this node is just a $ref

  unsigned types = 0;  // 0: any type
  std::string type_text;

  std::map<std::string, const Node*, std::less<>> properties;
  std::vector<PatternProperty> pattern_properties;
  const Node* additional_properties = nullptr;
  std::vector<std::string> required;
  std::optional<size_t> min_properties, max_properties;

  const Node* items = nullptr;
  bool tuple = false;  // `items` was an array: positional schemas
  std::vector<const Node*> tuple_items;
  const Node* additional_items = nullptr;
  std::optional<size_t> min_items, max_items;
  bool unique_items = false;

  std::optional<size_t> min_length, max_length;
  std::shared_ptr<const router::Regex> pattern;
  std::string pattern_source;

  std::vector<Bound> lower, upper;
  std::optional<json> multiple_of;

  std::optional<json> enum_values, const_value;

  std::vector<const Node*> all_of, any_of, one_of;
  const Node* not_schema = nullptr;
};

struct JsonSchema::Compiled {
  std::vector<std::unique_ptr<Node>> nodes;
  const Node* root = nullptr;
};

namespace {

using Node = JsonSchema::Node;

// Walks the schema once, creating one Node per schema location. $refs are
// resolved afterwards from a worklist, so recursive schemas need no special
// casing and ref chains do not deepen the C++ stack.
class Compiler {
 public:
  Compiler(const json& root, JsonSchema::Compiled& out) : root_(root), out_(out) {}

  bool run(std::string* error) {
    bool ok = (out_.root = node_at(root_, Pointer())) != nullptr && resolve_refs() && no_ref_cycles();
    if (!ok && error) *error = error_;
    return ok;
  }

 private:
  struct PendingRef {
    Node* node;
    std::string ref;
    Pointer at;
  };

  // Guards the stack against absurdly nested schema documents.
  static constexpr int kMaxDepth = 256;

  bool fail(const Pointer& at, const std::string& why) {
    error_ = "schema #" + at.to_string() + ": " + why;
    return false;
  }

  const Node* node_at(const json& s, const Pointer& at) {
    std::string key = at.to_string();
    if (auto it = by_location_.find(key); it != by_location_.end()) return it->second;
    if (depth_ >= kMaxDepth) return fail(at, "nested too deeply"), nullptr;
    Node* n = out_.nodes.emplace_back(std::make_unique<Node>()).get();
    by_location_.emplace(std::move(key), n);  // before children: cycles hit the cache
    ++depth_;
    bool ok = compile_into(*n, s, at);
    --depth_;
    return ok ? n : nullptr;
  }

  bool compile_into(Node& n, const json& s, const Pointer& at) {
    if (s.is_boolean()) {
      n.reject_all = !s.get<bool>();
      return true;
    }
    if (!s.is_object()) {
      return fail(at, std::string("expected a schema (object or boolean), got ") + s.type_name());
    }
    if (!definitions(s, "definitions", at) || !definitions(s, "$defs", at)) return false;
    if (auto it = s.find("$ref"); it != s.end()) {
      if (!it->is_string()) return fail(at, "'$ref' must be a string");
      refs_.push_back({&n, it->get<std::string>(), at});
      return true;  // draft 4/7: keywords next to $ref are ignored
    }
    return type(n, s, at) && object(n, s, at) && array(n, s, at) && string(n, s, at) &&
           number(n, s, at) && values(n, s, at) && combinators(n, s, at);
  }

  // Compiled eagerly so that mistakes in unused definitions are still reported.
  bool definitions(const json& s, const char* kw, const Pointer& at) {
    auto it = s.find(kw);
    if (it == s.end()) return true;
    if (!it->is_object()) return fail(at, std::string("'") + kw + "' must be an object");
    for (const auto& [name, sub] : it->items()) {
      if (!node_at(sub, at / kw / name)) return false;
    }
    return true;
  }

  bool type(Node& n, const json& s, const Pointer& at) {
    auto it = s.find("type");
    if (it == s.end()) return true;
    const char* bad = "'type' must be a type name or a non-empty array of type names";
    if (!it->is_string() && (!it->is_array() || it->empty())) return fail(at, bad);
    json names = it->is_string() ? json::array({*it}) : *it;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!names[i].is_string()) return fail(at, bad);
      const auto& name = names[i].get_ref<const std::string&>();
      unsigned bit = type_bit(name);
      if (bit == 0) return fail(at, "unknown type '" + name + "'");
      n.types |= bit;
      if (i > 0) n.type_text += i + 1 == names.size() ? " or " : ", ";
      n.type_text += name;
    }
    return true;
  }

  bool object(Node& n, const json& s, const Pointer& at) {
    return properties(n, s, at) && pattern_properties(n, s, at) &&
           optional_schema(s, "additionalProperties", at, n.additional_properties) &&
           required(n, s, at) && count(s, "minProperties", at, n.min_properties) &&
           count(s, "maxProperties", at, n.max_properties);
  }

  bool properties(Node& n, const json& s, const Pointer& at) {
    auto it = s.find("properties");
    if (it == s.end()) return true;
    if (!it->is_object()) return fail(at, "'properties' must be an object");
    for (const auto& [name, sub] : it->items()) {
      const Node* child = node_at(sub, at / "properties" / name);
      if (!child) return false;
      n.properties.emplace(name, child);
    }
    return true;
  }

  bool pattern_properties(Node& n, const json& s, const Pointer& at) {
    auto it = s.find("patternProperties");
    if (it == s.end()) return true;
    if (!it->is_object()) return fail(at, "'patternProperties' must be an object");
    for (const auto& [source, sub] : it->items()) {
      std::shared_ptr<const router::Regex> re = regex(source, at);
      const Node* child = re ? node_at(sub, at / "patternProperties" / source) : nullptr;
      if (!child) return false;
      n.pattern_properties.push_back({std::move(re), child});
    }
    return true;
  }

  bool required(Node& n, const json& s, const Pointer& at) {
    auto it = s.find("required");
    if (it == s.end()) return true;
    // Also rejects draft 3's `"required": true`, which would otherwise be
    // silently ignored and make a mandatory field optional.
    const char* bad = "'required' must be an array of property names";
    if (!it->is_array()) return fail(at, bad);
    for (const auto& name : *it) {
      if (!name.is_string()) return fail(at, bad);
      n.required.push_back(name.get<std::string>());
    }
    return true;
  }

  bool array(Node& n, const json& s, const Pointer& at) {
    auto it = s.find("items");
    if (it != s.end() && it->is_array()) {
      n.tuple = true;
      if (!schema_list(s, "items", at, n.tuple_items, true)) return false;
    } else if (!optional_schema(s, "items", at, n.items)) {
      return false;
    }
    return optional_schema(s, "additionalItems", at, n.additional_items) &&
           count(s, "minItems", at, n.min_items) && count(s, "maxItems", at, n.max_items) &&
           flag(s, "uniqueItems", at, n.unique_items);
  }

  bool string(Node& n, const json& s, const Pointer& at) {
    if (!count(s, "minLength", at, n.min_length) || !count(s, "maxLength", at, n.max_length)) {
      return false;
    }
    auto it = s.find("pattern");
    if (it == s.end()) return true;
    if (!it->is_string()) return fail(at, "'pattern' must be a string");
    n.pattern_source = it->get<std::string>();
    n.pattern = regex(n.pattern_source, at);
    return n.pattern != nullptr;
  }

  bool number(Node& n, const json& s, const Pointer& at) {
    if (!bound(s, "minimum", "exclusiveMinimum", at, n.lower) ||
        !bound(s, "maximum", "exclusiveMaximum", at, n.upper)) {
      return false;
    }
    auto it = s.find("multipleOf");
    if (it == s.end()) return true;
    if (!it->is_number() || as_number(*it) <= 0) return fail(at, "'multipleOf' must be a number > 0");
    n.multiple_of = *it;
    return true;
  }

  // Accepts draft 6+ (`exclusiveMinimum: 5`, an independent bound) and draft 4
  // (`exclusiveMinimum: true`, a modifier of `minimum`).
  bool bound(const json& s, const std::string& plain, const std::string& exclusive,
             const Pointer& at, std::vector<Node::Bound>& out) {
    bool modifier = false;
    if (auto e = s.find(exclusive); e != s.end()) {
      if (e->is_boolean()) {
        modifier = e->get<bool>();
      } else if (e->is_number()) {
        out.push_back({*e, true});
      } else {
        return fail(at, "'" + exclusive + "' must be a number or a boolean");
      }
    }
    auto p = s.find(plain);
    if (p == s.end()) {
      return !modifier || fail(at, "'" + exclusive + "': true needs '" + plain + "'");
    }
    if (!p->is_number()) return fail(at, "'" + plain + "' must be a number");
    out.push_back({*p, modifier});
    return true;
  }

  bool values(Node& n, const json& s, const Pointer& at) {
    if (auto it = s.find("enum"); it != s.end()) {
      if (!it->is_array()) return fail(at, "'enum' must be an array");
      n.enum_values = *it;
    }
    if (auto it = s.find("const"); it != s.end()) n.const_value = *it;
    return true;
  }

  bool combinators(Node& n, const json& s, const Pointer& at) {
    return schema_list(s, "allOf", at, n.all_of, false) &&
           schema_list(s, "anyOf", at, n.any_of, false) &&
           schema_list(s, "oneOf", at, n.one_of, false) &&
           optional_schema(s, "not", at, n.not_schema);
  }

  // A non-empty array of schemas; `allow_empty` for tuple `items`.
  bool schema_list(const json& s, const std::string& kw, const Pointer& at,
                   std::vector<const Node*>& out, bool allow_empty) {
    auto it = s.find(kw);
    if (it == s.end()) return true;
    if (!it->is_array() || (!allow_empty && it->empty())) {
      return fail(at, "'" + kw + "' must be a non-empty array of schemas");
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const Node* child = node_at((*it)[i], at / kw / i);
      if (!child) return false;
      out.push_back(child);
    }
    return true;
  }

  bool optional_schema(const json& s, const std::string& kw, const Pointer& at, const Node*& out) {
    auto it = s.find(kw);
    if (it == s.end()) return true;
    out = node_at(*it, at / kw);
    return out != nullptr;
  }

  // Non-negative integer; 2.0 is accepted since YAML/Lua sources may produce it.
  bool count(const json& s, const std::string& kw, const Pointer& at, std::optional<size_t>& out) {
    auto it = s.find(kw);
    if (it == s.end()) return true;
    if (!it->is_number() || !is_integral(*it) || as_number(*it) < 0 || as_number(*it) > 1e18L) {
      return fail(at, "'" + kw + "' must be a non-negative integer");
    }
    out = static_cast<size_t>(as_number(*it));
    return true;
  }

  bool flag(const json& s, const std::string& kw, const Pointer& at, bool& out) {
    auto it = s.find(kw);
    if (it == s.end()) return true;
    if (!it->is_boolean()) return fail(at, "'" + kw + "' must be a boolean");
    out = it->get<bool>();
    return true;
  }

  // PCRE2 (JIT), unanchored as JSON Schema's patterns are: it matches
  // without recursion, so long subjects cannot exhaust the stack.
  std::shared_ptr<const router::Regex> regex(const std::string& source, const Pointer& at) {
    std::string error;
    auto re = router::Regex::compile(source, false, false, &error);
    if (!re) fail(at, "invalid regex '" + source + "': " + error);
    return re;
  }

  // In discovery order, so errors name the first offending ref. Resolving may
  // compile more of the schema and so append to refs_: index, don't iterate.
  bool resolve_refs() {
    for (size_t i = 0; i < refs_.size(); ++i) {
      depth_ = 0;  // a ref target is compiled from a fresh stack
      const Node* target = resolve(refs_[i].ref, refs_[i].at);
      if (!target) return false;
      refs_[i].node->ref = target;
    }
    return true;
  }

  const Node* resolve(const std::string& ref, const Pointer& at) {
    if (ref.empty() || ref[0] != '#') {
      return fail(at, "unsupported $ref '" + ref + "': only local refs ('#/...') are supported"),
             nullptr;
    }
    Pointer target;
    try {
      target = Pointer(percent_decode(std::string_view(ref).substr(1)));
    } catch (const json::exception&) {
      return fail(at, "malformed $ref '" + ref + "': not a JSON pointer"), nullptr;
    }
    bool found = false;
    try {
      found = root_.contains(target);
    } catch (const json::exception&) {
      // Malformed array index in the pointer: treat as not found.
    }
    if (!found) return fail(at, "dangling $ref '" + ref + "'"), nullptr;
    return node_at(root_.at(target), target);
  }

  // A ref that only leads to other refs would recurse forever at validation.
  bool no_ref_cycles() {
    for (const auto& p : refs_) {
      const Node* n = p.node;
      for (size_t hops = 0; n->ref; n = n->ref) {
        if (++hops > refs_.size()) return fail(p.at, "$ref cycle through '" + p.ref + "'");
      }
    }
    return true;
  }

  const json& root_;
  JsonSchema::Compiled& out_;
  std::map<std::string, Node*> by_location_;  // JSON pointer -> node
  std::vector<PendingRef> refs_;  // every $ref, in discovery order
  std::string error_;
  int depth_ = 0;
};

// One step from the root to the value being checked. Paths are rendered only
// when an error is reported, so valid configs cost no string building.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  size_t index = 0;
  bool is_index = false;
};

bool plain_key(std::string_view k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  for (char c : k) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string render(const std::string& root, const Path* path) {
  std::vector<const Path*> steps;
  for (; path; path = path->parent) steps.push_back(path);
  std::string out = root;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const Path& p = **it;
    // Appends rather than `"[" + ...`: GCC 12 -O3 flags that with a bogus -Wrestrict.
    if (p.is_index) {
      out.append("[").append(std::to_string(p.index)).append("]");
    } else if (plain_key(p.key)) {
      out.append(out.empty() ? "" : ".").append(p.key);
    } else {
      out.append("[").append(brief(json(std::string(p.key)))).append("]");
    }
  }
  return out;
}

class Validator {
 public:
  Validator(const std::string& root, std::string* error) : root_(root), error_(error) {}

  bool check(const Node& n, const json& v, const Path* path) {
    // Bounds recursion from deep values and from schemas such as
    // {"allOf": [{"$ref": "#"}]} that recurse without consuming input.
    if (depth_ >= kMaxDepth) return fail(path, "nested too deeply (recursive schema?)");
    ++depth_;
    bool ok = check_node(n, v, path);
    --depth_;
    return ok;
  }

 private:
  static constexpr int kMaxDepth = 256;

  bool fail(const Path* path, const std::string& why) {
    if (error_) *error_ = render(root_, path) + ": " + why;
    return false;
  }

  // Runs a subschema whose failure may be expected (anyOf/oneOf/not).
  bool attempt(const Node& n, const json& v, const Path* path, std::string* err) {
    std::string* saved = std::exchange(error_, err);
    bool ok = check(n, v, path);
    error_ = saved;
    return ok;
  }

  bool check_node(const Node& n, const json& v, const Path* path) {
    if (n.reject_all) return fail(path, "no value is allowed here");
    if (n.ref) return check(*n.ref, v, path);
    // Type first: other keywords' messages would be confusing on a wrong type.
    return check_type(n, v, path) && check_object(n, v, path) && check_array(n, v, path) &&
           check_string(n, v, path) && check_number(n, v, path) && check_values(n, v, path) &&
           check_combinators(n, v, path);
  }

  bool check_type(const Node& n, const json& v, const Path* path) {
    if (n.types == 0 || (n.types & value_bits(v))) return true;
    return fail(path, "expected " + n.type_text + ", got " + v.type_name());
  }

  bool check_object(const Node& n, const json& v, const Path* path) {
    if (!v.is_object()) return true;
    if (!check_count(v.size(), n.min_properties, n.max_properties, "property", "properties", path)) {
      return false;
    }
    for (const auto& name : n.required) {
      if (!v.contains(name)) return fail(path, "missing required property '" + name + "'");
    }
    for (const auto& [key, child] : v.items()) {
      if (!check_property(n, key, child, path)) return false;
    }
    return true;
  }

  bool check_property(const Node& n, const std::string& key, const json& child, const Path* path) {
    Path here{path, key};
    bool matched = false;
    if (auto it = n.properties.find(key); it != n.properties.end()) {
      matched = true;
      if (!check(*it->second, child, &here)) return false;
    }
    for (const auto& pp : n.pattern_properties) {
      if (!pp.re->match(key)) continue;
      matched = true;
      if (!check(*pp.schema, child, &here)) return false;
    }
    if (matched || !n.additional_properties) return true;
    // The common `additionalProperties: false` gets a message naming the key.
    if (n.additional_properties->reject_all) return fail(path, "unexpected property '" + key + "'");
    return check(*n.additional_properties, child, &here);
  }

  bool check_array(const Node& n, const json& v, const Path* path) {
    if (!v.is_array()) return true;
    if (!check_count(v.size(), n.min_items, n.max_items, "item", "items", path)) return false;
    if (n.unique_items && !check_unique(v, path)) return false;
    for (size_t i = 0; i < v.size(); ++i) {
      const Node* item = item_schema(n, i);
      if (!item) continue;
      if (item->reject_all && n.tuple && i >= n.tuple_items.size()) {
        return fail(path, "expected at most " + plural(n.tuple_items.size(), "item", "items") +
                              ", got " + std::to_string(v.size()));
      }
      Path here{path, {}, i, true};
      if (!check(*item, v[i], &here)) return false;
    }
    return true;
  }

  static const Node* item_schema(const Node& n, size_t i) {
    if (!n.tuple) return n.items;
    return i < n.tuple_items.size() ? n.tuple_items[i] : n.additional_items;
  }

  // Pairwise: config arrays are short, and JSON equality (1 == 1.0) is not a
  // strict weak order we could sort by.
  bool check_unique(const json& v, const Path* path) {
    for (size_t i = 0; i < v.size(); ++i) {
      for (size_t j = i + 1; j < v.size(); ++j) {
        if (v[i] == v[j]) {
          return fail(path, "items [" + std::to_string(i) + "] and [" + std::to_string(j) +
                                "] are equal, expected unique items");
        }
      }
    }
    return true;
  }

  bool check_count(size_t got, const std::optional<size_t>& min, const std::optional<size_t>& max,
                   const char* one, const char* many, const Path* path) {
    if (min && got < *min) {
      return fail(path, "expected at least " + plural(*min, one, many) + ", got " + std::to_string(got));
    }
    if (max && got > *max) {
      return fail(path, "expected at most " + plural(*max, one, many) + ", got " + std::to_string(got));
    }
    return true;
  }

  bool check_string(const Node& n, const json& v, const Path* path) {
    if (!v.is_string()) return true;
    const auto& s = v.get_ref<const std::string&>();
    if (!check_count(code_points(s), n.min_length, n.max_length, "character", "characters", path)) {
      return false;
    }
    if (!n.pattern) return true;
    if (!n.pattern->match(s)) return fail(path, "must match pattern '" + n.pattern_source + "', got " + brief(v));
    return true;
  }

  bool check_number(const Node& n, const json& v, const Path* path) {
    if (!v.is_number()) return true;
    long double x = as_number(v);
    for (const auto& b : n.lower) {
      long double lim = as_number(b.limit);
      if (x < lim || (b.exclusive && x == lim)) {
        return fail(path, std::string("must be ") + (b.exclusive ? "> " : ">= ") + brief(b.limit) +
                              ", got " + brief(v));
      }
    }
    for (const auto& b : n.upper) {
      long double lim = as_number(b.limit);
      if (x > lim || (b.exclusive && x == lim)) {
        return fail(path, std::string("must be ") + (b.exclusive ? "< " : "<= ") + brief(b.limit) +
                              ", got " + brief(v));
      }
    }
    if (n.multiple_of && !is_multiple(v, *n.multiple_of)) {
      return fail(path, "must be a multiple of " + brief(*n.multiple_of) + ", got " + brief(v));
    }
    return true;
  }

  // Exact for integers; a relative tolerance for fractions such as 0.3 / 0.1,
  // which binary floating point cannot divide exactly.
  static bool is_multiple(const json& v, const json& divisor) {
    long double x = as_number(v), d = as_number(divisor);
    if (v.is_number_integer() && divisor.is_number_integer()) return std::fmod(x, d) == 0;
    long double q = x / d;
    if (!std::isfinite(q)) return false;
    return std::fabs(q - std::nearbyint(q)) <= 1e-9L * std::max(1.0L, std::fabs(q));
  }

  bool check_values(const Node& n, const json& v, const Path* path) {
    if (n.enum_values) {
      bool found = false;
      for (const auto& e : *n.enum_values) found = found || e == v;
      if (!found) return fail(path, "must be one of " + brief(*n.enum_values) + ", got " + brief(v));
    }
    if (n.const_value && *n.const_value != v) {
      return fail(path, "must be " + brief(*n.const_value) + ", got " + brief(v));
    }
    return true;
  }

  bool check_combinators(const Node& n, const json& v, const Path* path) {
    for (const Node* sub : n.all_of) {
      if (!check(*sub, v, path)) return false;
    }
    if (!n.any_of.empty() && !check_any_of(n.any_of, v, path)) return false;
    if (!n.one_of.empty() && !check_one_of(n.one_of, v, path)) return false;
    if (n.not_schema && attempt(*n.not_schema, v, path, nullptr)) {
      return fail(path, "must not match the 'not' schema");
    }
    return true;
  }

  bool check_any_of(const std::vector<const Node*>& alts, const json& v, const Path* path) {
    std::vector<std::string> errors(alts.size());
    for (size_t i = 0; i < alts.size(); ++i) {
      if (attempt(*alts[i], v, path, &errors[i])) return true;
    }
    return fail(path, "no anyOf alternative matched " + list_errors(errors));
  }

  bool check_one_of(const std::vector<const Node*>& alts, const json& v, const Path* path) {
    std::vector<std::string> errors(alts.size());
    std::optional<size_t> first;
    for (size_t i = 0; i < alts.size(); ++i) {
      if (!attempt(*alts[i], v, path, &errors[i])) continue;
      if (first) {
        return fail(path, "matches oneOf alternatives #" + std::to_string(*first) + " and #" +
                              std::to_string(i) + ", expected exactly one");
      }
      first = i;
    }
    return first || fail(path, "no oneOf alternative matched " + list_errors(errors));
  }

  // Every alternative's reason: the user needs them to see which was meant.
  static std::string list_errors(const std::vector<std::string>& errors) {
    std::string out = "(";
    for (size_t i = 0; i < errors.size(); ++i) {
      out += (i ? "; #" : "#") + std::to_string(i) + ": " + errors[i];
    }
    return out + ")";
  }

  const std::string& root_;
  std::string* error_;
  int depth_ = 0;
};

}  // namespace

std::optional<JsonSchema> JsonSchema::compile(const json& schema, std::string* error) {
  auto compiled = std::make_shared<Compiled>();
  try {
    if (!Compiler(schema, *compiled).run(error)) return std::nullopt;
  } catch (const std::exception& e) {
    // Defensive: nlohmann throws on misuse; report rather than propagate.
    if (error) *error = std::string("schema: ") + e.what();
    return std::nullopt;
  }
  return JsonSchema(std::move(compiled));
}

bool JsonSchema::validate(const json& value, const std::string& root, std::string* error) const {
  return Validator(root, error).check(*compiled_->root, value, nullptr);
}

}  // namespace wg::config

// A small JSON Schema validator for Wasm filter configs: Kong lets a filter
// ship `NAME.meta.json` whose `config_schema` the filter's `config` must
// satisfy. Covers the draft 4/7 subset real filter schemas use:
//
//   type (string or array; "integer" accepts 3 and 3.0), properties,
//   patternProperties, additionalProperties, required, items (schema or
//   tuple array) + additionalItems, minItems/maxItems, uniqueItems, enum,
//   const, minimum/maximum, exclusiveMinimum/exclusiveMaximum (draft 6+
//   numbers and draft 4 booleans), multipleOf, minLength/maxLength (UTF-8
//   code points), pattern (std::regex ECMAScript, unanchored search over
//   bytes; subjects over 2 KB are rejected, as std::regex recursion could
//   overflow the stack),
//   minProperties/maxProperties, allOf/anyOf/oneOf/not, boolean schemas,
//   definitions/$defs and local "#..." $ref (siblings of $ref are ignored,
//   as in draft 4/7).
//
// Everything else (format, default, title, $id, dependencies, ...) is
// ignored. A compiled schema is immutable and safe to share across threads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace wg::config {

class JsonSchema {
 public:
  // Returns nullopt and sets *error (if given) when `schema` is not an object
  // or boolean, or a keyword is malformed (bad type name, bad regex, dangling
  // or remote $ref, ...). Errors read `schema #/properties/x: <why>`.
  static std::optional<JsonSchema> compile(const nlohmann::json& schema, std::string* error);

  // Returns false and sets *error (if given) to the first violation, as
  // `<root>.a[1].b: <why>`, e.g. `config.headers[1].name: expected string,
  // got number`.
  bool validate(const nlohmann::json& value, const std::string& root, std::string* error) const;

  struct Node;      // one compiled (sub)schema
  struct Compiled;  // all nodes of one schema

 private:
  explicit JsonSchema(std::shared_ptr<const Compiled> c) : compiled_(std::move(c)) {}
  std::shared_ptr<const Compiled> compiled_;  // shared: copies are cheap
};

}  // namespace wg::config

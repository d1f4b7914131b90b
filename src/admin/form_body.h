// Kong's Admin API request bodies besides JSON: application/x-www-form-
// urlencoded (or multipart/form-data) with Kong's nested-parameter syntax (kong/api/api_helpers.lua
// normalize_nested_params): `config.minute=5` and `config[minute]=5` are
// records, `paths[]=/a` appends, `paths[1]=/a` sets the first element
// (1-based, as Lua counts). Every value arrives as text; infer_types()
// then gives each the type its schema field says, as Kong's
// kong/api/arguments.lua does.
#pragma once

#include <string>
#include <string_view>

#include "config/schema.h"
#include "config/value.h"

namespace wg::admin {

// A form body as a JSON object; false (with *error) on a key whose nesting
// contradicts another key's (`a=1&a.b=2`).
bool parse_form(std::string_view body, config::Value* out, std::string* error);

// A multipart/form-data body (`content_type` carries its boundary) read
// the same way: each part's `name` is a key with Kong's nested syntax and
// its content the text value. False (with *error) on a body without the
// boundary's parts or with contradicting keys.
bool parse_multipart(std::string_view body, std::string_view content_type, config::Value* out, std::string* error);

// Converts the text values of `value` to the types `field` wants: numbers,
// booleans, a single value where an array is wanted becomes a one-element
// array, an object keyed "1", "2"... becomes an array. Values that do not
// convert are left for validation to refuse.
void infer_types(const config::schema::Field& field, config::Value& value);
// The same over every field of an entity; a plugin's `config` follows the
// schema of the plugin its `name` names.
void infer_entity_types(const config::schema::Schema& schema, config::Value& entity);

}  // namespace wg::admin

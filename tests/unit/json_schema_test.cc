#include "config/json_schema.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

using nlohmann::json;
using wg::config::JsonSchema;

namespace {

// One validation: `error` empty means the value must be accepted, otherwise
// it is the exact first error, rendered with root "config".
struct Case {
  const char* name;
  const char* schema;
  const char* value;
  const char* error;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

JsonSchema compile_ok(const char* text) {
  std::string error;
  auto schema = JsonSchema::compile(json::parse(text), &error);
  EXPECT_TRUE(schema.has_value()) << text << "\n" << error;
  if (!schema) return *JsonSchema::compile(json(true), nullptr);
  return *schema;
}

class Validate : public testing::TestWithParam<Case> {};

TEST_P(Validate, Case) {
  const Case& c = GetParam();
  JsonSchema schema = compile_ok(c.schema);
  std::string error;
  bool ok = schema.validate(json::parse(c.value), "config", &error);
  if (std::string(c.error).empty()) {
    EXPECT_TRUE(ok) << c.value << " rejected: " << error;
  } else {
    EXPECT_FALSE(ok) << c.value << " accepted";
    EXPECT_EQ(error, c.error);
  }
}

// --- type -------------------------------------------------------------------

const Case kType[] = {
    {"string_ok", R"({"type":"string"})", R"("x")", ""},
    {"string_bad", R"({"type":"string"})", "5", "config: expected string, got number"},
    {"null_ok", R"({"type":"null"})", "null", ""},
    {"null_bad", R"({"type":"null"})", "false", "config: expected null, got boolean"},
    {"boolean_ok", R"({"type":"boolean"})", "true", ""},
    {"boolean_bad", R"({"type":"boolean"})", "0", "config: expected boolean, got number"},
    {"object_ok", R"({"type":"object"})", "{}", ""},
    {"object_bad", R"({"type":"object"})", "[]", "config: expected object, got array"},
    {"array_ok", R"({"type":"array"})", "[]", ""},
    {"array_bad", R"({"type":"array"})", "{}", "config: expected array, got object"},
    {"number_int", R"({"type":"number"})", "3", ""},
    {"number_float", R"({"type":"number"})", "3.5", ""},
    {"number_bad", R"({"type":"number"})", R"("3")", "config: expected number, got string"},
    {"integer_ok", R"({"type":"integer"})", "-3", ""},
    {"integer_big_unsigned", R"({"type":"integer"})", "18446744073709551615", ""},
    {"integer_zero_fraction", R"({"type":"integer"})", "3.0", ""},
    {"integer_fraction", R"({"type":"integer"})", "3.5", "config: expected integer, got number"},
    {"integer_string", R"({"type":"integer"})", R"("3")", "config: expected integer, got string"},
    {"union_first", R"({"type":["string","null"]})", R"("a")", ""},
    {"union_second", R"({"type":["string","null"]})", "null", ""},
    {"union_bad", R"({"type":["string","null"]})", "1", "config: expected string or null, got number"},
    {"union_three", R"({"type":["string","integer","null"]})", "1.5",
     "config: expected string, integer or null, got number"},
    {"no_type_any", R"({})", R"([1,{"a":null}])", ""},
    {"true_schema", "true", "42", ""},
    {"false_schema", "false", "42", "config: no value is allowed here"},
};
INSTANTIATE_TEST_SUITE_P(Type, Validate, testing::ValuesIn(kType),
                         [](const auto& info) { return std::string(info.param.name); });

// --- objects ----------------------------------------------------------------

constexpr const char* kHeaderSchema = R"({
  "type": "object",
  "required": ["header"],
  "properties": {
    "header": {"type": "string"},
    "headers": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "value": {"type": "string"}}
      }
    }
  }
})";

const Case kObject[] = {
    {"required_ok", kHeaderSchema, R"({"header":"x"})", ""},
    {"required_missing", kHeaderSchema, R"({})", "config: missing required property 'header'"},
    {"property_type", kHeaderSchema, R"({"header":1})", "config.header: expected string, got number"},
    {"nested_path", kHeaderSchema, R"({"header":"h","headers":[{"name":"a"},{"name":5}]})",
     "config.headers[1].name: expected string, got number"},
    {"nested_required", kHeaderSchema, R"({"header":"h","headers":[{"value":"v"}]})",
     "config.headers[0]: missing required property 'name'"},
    {"extra_allowed_by_default", kHeaderSchema, R"({"header":"h","other":1})", ""},
    {"non_object_skips_object_keywords", R"({"required":["a"],"properties":{"a":{"type":"string"}}})",
     "7", ""},
    {"additional_false_ok", R"({"properties":{"a":{}},"additionalProperties":false})", R"({"a":1})", ""},
    {"additional_false_bad", R"({"properties":{"a":{}},"additionalProperties":false})",
     R"({"a":1,"b":2})", "config: unexpected property 'b'"},
    {"additional_true", R"({"additionalProperties":true})", R"({"b":2})", ""},
    {"additional_schema_ok", R"({"properties":{"a":{}},"additionalProperties":{"type":"integer"}})",
     R"({"a":"x","b":2})", ""},
    {"additional_schema_bad", R"({"properties":{"a":{}},"additionalProperties":{"type":"integer"}})",
     R"({"a":"x","b":"y"})", "config.b: expected integer, got string"},
    {"pattern_properties_ok", R"({"patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false})",
     R"({"x-a":"1"})", ""},
    {"pattern_properties_bad", R"({"patternProperties":{"^x-":{"type":"string"}}})", R"({"x-a":1})",
     "config.x-a: expected string, got number"},
    {"pattern_properties_additional", R"({"patternProperties":{"^x-":{}},"additionalProperties":false})",
     R"({"y":1})", "config: unexpected property 'y'"},
    {"property_false_schema", R"({"properties":{"a":false}})", R"({"a":1})",
     "config.a: no value is allowed here"},
    {"min_properties_ok", R"({"minProperties":1})", R"({"a":1})", ""},
    {"min_properties_bad", R"({"minProperties":1})", R"({})",
     "config: expected at least 1 property, got 0"},
    {"max_properties_ok", R"({"maxProperties":2})", R"({"a":1,"b":2})", ""},
    {"max_properties_bad", R"({"maxProperties":2})", R"({"a":1,"b":2,"c":3})",
     "config: expected at most 2 properties, got 3"},
    {"odd_key_path", R"({"additionalProperties":{"type":"string"}})", R"({"a.b c":1})",
     R"(config["a.b c"]: expected string, got number)"},
    {"digit_key_path", R"({"additionalProperties":{"type":"string"}})", R"({"1x":1})",
     R"(config["1x"]: expected string, got number)"},
};
INSTANTIATE_TEST_SUITE_P(Object, Validate, testing::ValuesIn(kObject),
                         [](const auto& info) { return std::string(info.param.name); });

// --- arrays -----------------------------------------------------------------

const Case kArray[] = {
    {"items_ok", R"({"items":{"type":"integer"}})", "[1,2,3]", ""},
    {"items_bad", R"({"items":{"type":"integer"}})", R"([1,"2"])", "config[1]: expected integer, got string"},
    {"items_empty", R"({"items":{"type":"integer"}})", "[]", ""},
    {"nested_arrays", R"({"items":{"items":{"type":"string"}}})", R"([["a"],["b",1]])",
     "config[1][1]: expected string, got number"},
    {"min_items_ok", R"({"minItems":2})", "[1,2]", ""},
    {"min_items_bad", R"({"minItems":2})", "[1]", "config: expected at least 2 items, got 1"},
    {"min_items_one", R"({"minItems":1})", "[]", "config: expected at least 1 item, got 0"},
    {"max_items_ok", R"({"maxItems":1})", "[1]", ""},
    {"max_items_bad", R"({"maxItems":1})", "[1,2]", "config: expected at most 1 item, got 2"},
    {"unique_ok", R"({"uniqueItems":true})", R"([1,"1",[1],{"a":1},{"a":2}])", ""},
    {"unique_bad", R"({"uniqueItems":true})", R"(["a","b","a"])",
     "config: items [0] and [2] are equal, expected unique items"},
    {"unique_numeric_equality", R"({"uniqueItems":true})", "[1,1.0]",
     "config: items [0] and [1] are equal, expected unique items"},
    {"unique_objects", R"({"uniqueItems":true})", R"([{"a":1,"b":2},{"b":2,"a":1}])",
     "config: items [0] and [1] are equal, expected unique items"},
    {"unique_false", R"({"uniqueItems":false})", "[1,1]", ""},
    {"tuple_ok", R"({"items":[{"type":"string"},{"type":"integer"}]})", R"(["a",1,null])", ""},
    {"tuple_bad", R"({"items":[{"type":"string"},{"type":"integer"}]})", R"(["a","b"])",
     "config[1]: expected integer, got string"},
    {"tuple_short", R"({"items":[{"type":"string"},{"type":"integer"}]})", R"(["a"])", ""},
    {"tuple_additional_false", R"({"items":[{}],"additionalItems":false})", "[1,2]",
     "config: expected at most 1 item, got 2"},
    {"tuple_additional_schema", R"({"items":[{}],"additionalItems":{"type":"string"}})", R"([1,"a",2])",
     "config[2]: expected string, got number"},
    {"additional_items_without_tuple", R"({"items":{},"additionalItems":false})", "[1,2]", ""},
};
INSTANTIATE_TEST_SUITE_P(Array, Validate, testing::ValuesIn(kArray),
                         [](const auto& info) { return std::string(info.param.name); });

// --- strings ----------------------------------------------------------------

const Case kString[] = {
    {"min_length_ok", R"({"minLength":2})", R"("ab")", ""},
    {"min_length_bad", R"({"minLength":2})", R"("a")", "config: expected at least 2 characters, got 1"},
    {"max_length_ok", R"({"maxLength":2})", R"("ab")", ""},
    {"max_length_bad", R"({"maxLength":2})", R"("abc")", "config: expected at most 2 characters, got 3"},
    // "héé" is 5 bytes but 3 code points; "日本" is 6 bytes, 2 code points.
    {"length_utf8_ok", R"({"maxLength":3})", "\"h\u00e9\u00e9\"", ""},
    {"length_utf8_cjk", R"({"minLength":2,"maxLength":2})", "\"\u65e5\u672c\"", ""},
    {"length_utf8_bad", R"({"maxLength":1})", "\"\u65e5\u672c\"",
     "config: expected at most 1 character, got 2"},
    {"length_escaped_astral", R"({"maxLength":1})", R"("\ud83d\ude00")", ""},
    {"pattern_ok", R"({"pattern":"^[a-z]+$"})", R"("abc")", ""},
    {"pattern_bad", R"({"pattern":"^[a-z]+$"})", R"("aBc")", R"(config: must match pattern '^[a-z]+$', got "aBc")"},
    {"pattern_unanchored", R"({"pattern":"b"})", R"("abc")", ""},
    {"pattern_ignores_non_strings", R"({"pattern":"^a$"})", "1", ""},
    {"long_value_truncated", R"({"pattern":"^a$"})",
     R"("0123456789012345678901234567890123456789012345678901234567890123456789")",
     R"(config: must match pattern '^a$', got "012345678901234567890123456789012345678901234567890123456789...)"},
};
INSTANTIATE_TEST_SUITE_P(String, Validate, testing::ValuesIn(kString),
                         [](const auto& info) { return std::string(info.param.name); });

// --- numbers ----------------------------------------------------------------

const Case kNumber[] = {
    {"minimum_equal", R"({"minimum":1})", "1", ""},
    {"minimum_bad", R"({"minimum":1})", "0", "config: must be >= 1, got 0"},
    {"minimum_float", R"({"minimum":0.5})", "0.25", "config: must be >= 0.5, got 0.25"},
    {"maximum_equal", R"({"maximum":10})", "10", ""},
    {"maximum_bad", R"({"maximum":10})", "10.5", "config: must be <= 10, got 10.5"},
    {"exclusive_min_ok", R"({"exclusiveMinimum":0})", "1", ""},
    {"exclusive_min_bad", R"({"exclusiveMinimum":0})", "0", "config: must be > 0, got 0"},
    {"exclusive_max_ok", R"({"exclusiveMaximum":1})", "0.99", ""},
    {"exclusive_max_bad", R"({"exclusiveMaximum":1})", "1.0", "config: must be < 1, got 1.0"},
    {"draft4_exclusive_min", R"({"minimum":5,"exclusiveMinimum":true})", "5", "config: must be > 5, got 5"},
    {"draft4_exclusive_false", R"({"minimum":5,"exclusiveMinimum":false})", "5", ""},
    {"draft4_exclusive_max", R"({"maximum":5,"exclusiveMaximum":true})", "5", "config: must be < 5, got 5"},
    {"negative_vs_unsigned", R"({"minimum":-1,"maximum":18446744073709551615})",
     "18446744073709551615", ""},
    {"large_integers_exact", R"({"maximum":9007199254740992})", "9007199254740993",
     "config: must be <= 9007199254740992, got 9007199254740993"},
    {"multiple_ok", R"({"multipleOf":5})", "15", ""},
    {"multiple_bad", R"({"multipleOf":5})", "12", "config: must be a multiple of 5, got 12"},
    {"multiple_fraction_ok", R"({"multipleOf":0.1})", "0.3", ""},
    {"multiple_fraction_bad", R"({"multipleOf":0.1})", "0.35", "config: must be a multiple of 0.1, got 0.35"},
    {"numeric_ignores_strings", R"({"minimum":5})", R"("1")", ""},
};
INSTANTIATE_TEST_SUITE_P(Number, Validate, testing::ValuesIn(kNumber),
                         [](const auto& info) { return std::string(info.param.name); });

// --- enum / const -----------------------------------------------------------

const Case kValues[] = {
    {"enum_ok", R"({"enum":["a","b"]})", R"("b")", ""},
    {"enum_bad", R"({"enum":["a","b"]})", R"("c")", R"(config: must be one of ["a","b"], got "c")"},
    {"enum_mixed_types", R"({"enum":[1,"1",null]})", "null", ""},
    {"enum_numeric_equality", R"({"enum":[1]})", "1.0", ""},
    {"enum_object", R"({"enum":[{"a":[1]}]})", R"({"a":[1]})", ""},
    {"const_ok", R"({"const":{"v":1}})", R"({"v":1})", ""},
    {"const_bad", R"({"const":"x"})", R"("y")", R"(config: must be "x", got "y")"},
    {"const_null", R"({"const":null})", "0", "config: must be null, got 0"},
};
INSTANTIATE_TEST_SUITE_P(Values, Validate, testing::ValuesIn(kValues),
                         [](const auto& info) { return std::string(info.param.name); });

// --- combinators ------------------------------------------------------------

const Case kCombinators[] = {
    {"all_of_ok", R"({"allOf":[{"type":"integer"},{"minimum":1}]})", "2", ""},
    {"all_of_bad", R"({"allOf":[{"type":"integer"},{"minimum":1}]})", "0", "config: must be >= 1, got 0"},
    {"any_of_ok", R"({"anyOf":[{"type":"string"},{"minimum":10}]})", "11", ""},
    {"any_of_bad", R"({"anyOf":[{"type":"string"},{"minimum":10}]})", "1",
     "config: no anyOf alternative matched (#0: config: expected string, got number; "
     "#1: config: must be >= 10, got 1)"},
    {"one_of_ok", R"({"oneOf":[{"type":"string"},{"type":"integer"}]})", "1", ""},
    {"one_of_none", R"({"oneOf":[{"type":"string"},{"type":"null"}]})", "1",
     "config: no oneOf alternative matched (#0: config: expected string, got number; "
     "#1: config: expected null, got number)"},
    {"one_of_two", R"({"oneOf":[{"type":"number"},{"type":"integer"}]})", "1",
     "config: matches oneOf alternatives #0 and #1, expected exactly one"},
    {"not_ok", R"({"not":{"type":"null"}})", "1", ""},
    {"not_bad", R"({"not":{"type":"null"}})", "null", "config: must not match the 'not' schema"},
    {"nested_path_in_alternative",
     R"({"anyOf":[{"properties":{"a":{"type":"string"}}},{"required":["b"]}]})", R"({"a":1})",
     "config: no anyOf alternative matched (#0: config.a: expected string, got number; "
     "#1: config: missing required property 'b')"},
    {"combinator_inside_property", R"({"properties":{"port":{"oneOf":[{"type":"integer"},{"const":"auto"}]}}})",
     R"({"port":"auto"})", ""},
    {"not_inside_any_of", R"({"anyOf":[{"not":{"type":"string"}}]})", R"("s")",
     "config: no anyOf alternative matched (#0: config: must not match the 'not' schema)"},
};
INSTANTIATE_TEST_SUITE_P(Combinators, Validate, testing::ValuesIn(kCombinators),
                         [](const auto& info) { return std::string(info.param.name); });

// --- $ref -------------------------------------------------------------------

constexpr const char* kRefSchema = R"({
  "definitions": {"header": {"type": "object", "required": ["name"],
                             "properties": {"name": {"type": "string"}}}},
  "$defs": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}},
  "type": "object",
  "properties": {
    "headers": {"type": "array", "items": {"$ref": "#/definitions/header"}},
    "port": {"$ref": "#/$defs/port"},
    "alias": {"$ref": "#/properties/port"}
  }
})";

// A linked list: recursion through "#" is allowed as long as it consumes input.
constexpr const char* kRecursive = R"({
  "type": "object",
  "properties": {"value": {"type": "integer"}, "next": {"$ref": "#"}},
  "additionalProperties": false
})";

const Case kRef[] = {
    {"definitions_ok", kRefSchema, R"({"headers":[{"name":"a"}]})", ""},
    {"definitions_bad", kRefSchema, R"({"headers":[{"name":"a"},{"name":false}]})",
     "config.headers[1].name: expected string, got boolean"},
    {"defs_ok", kRefSchema, R"({"port":8080})", ""},
    {"defs_bad", kRefSchema, R"({"port":0})", "config.port: must be >= 1, got 0"},
    {"ref_to_property", kRefSchema, R"({"alias":70000})", "config.alias: must be <= 65535, got 70000"},
    {"recursive_ok", kRecursive, R"({"value":1,"next":{"value":2,"next":{"value":3}}})", ""},
    {"recursive_bad", kRecursive, R"({"value":1,"next":{"value":2,"next":{"value":"3"}}})",
     "config.next.next.value: expected integer, got string"},
    {"recursive_extra", kRecursive, R"({"next":{"nxt":{}}})", "config.next: unexpected property 'nxt'"},
    {"ref_siblings_ignored", R"({"definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","minLength":5})",
     R"("ab")", ""},
    {"escaped_pointer", R"({"definitions":{"a/b":{"type":"string"},"c~d":{"type":"integer"}},
                            "properties":{"x":{"$ref":"#/definitions/a~1b"},"y":{"$ref":"#/definitions/c~0d"}}})",
     R"({"x":"s","y":"t"})", "config.y: expected integer, got string"},
    {"percent_encoded_pointer", R"({"definitions":{"a b":{"type":"string"}},"$ref":"#/definitions/a%20b"})",
     "1", "config: expected string, got number"},
    {"ref_to_false", R"({"definitions":{"no":false},"properties":{"a":{"$ref":"#/definitions/no"}}})",
     R"({"a":1})", "config.a: no value is allowed here"},
    {"ref_into_array", R"({"properties":{"a":{"$ref":"#/properties/b/anyOf/1"},
                                         "b":{"anyOf":[{},{"type":"string"}]}}})",
     R"({"a":1})", "config.a: expected string, got number"},
};
INSTANTIATE_TEST_SUITE_P(Ref, Validate, testing::ValuesIn(kRef),
                         [](const auto& info) { return std::string(info.param.name); });

// --- ignored keywords -------------------------------------------------------

const Case kIgnored[] = {
    {"default_not_applied", R"({"required":["a"],"properties":{"a":{"default":1}}})", "{}",
     "config: missing required property 'a'"},
    {"format_ignored", R"({"type":"string","format":"email"})", R"("not an email")", ""},
    {"annotations", R"({"$schema":"http://json-schema.org/draft-07/schema#","$id":"x","title":"t",
                       "description":"d","examples":[1],"$comment":"c","x-kong":{"a":1}})",
     "1", ""},
    {"unknown_keyword_any_shape", R"({"dependencies":5,"propertyNames":"weird"})", R"({"a":1})", ""},
};
INSTANTIATE_TEST_SUITE_P(Ignored, Validate, testing::ValuesIn(kIgnored),
                         [](const auto& info) { return std::string(info.param.name); });

// --- malformed schemas ------------------------------------------------------

struct BadSchema {
  const char* name;
  const char* schema;
  const char* error;  // exact
};

void PrintTo(const BadSchema& c, std::ostream* os) { *os << c.name; }

class Compile : public testing::TestWithParam<BadSchema> {};

TEST_P(Compile, Rejects) {
  const BadSchema& c = GetParam();
  std::string error;
  EXPECT_FALSE(JsonSchema::compile(json::parse(c.schema), &error).has_value()) << c.schema;
  EXPECT_EQ(error, c.error);
}

const BadSchema kBad[] = {
    {"root_number", "5", "schema #: expected a schema (object or boolean), got number"},
    {"root_string", R"("object")", "schema #: expected a schema (object or boolean), got string"},
    {"root_array", "[]", "schema #: expected a schema (object or boolean), got array"},
    {"root_null", "null", "schema #: expected a schema (object or boolean), got null"},
    {"type_number", R"({"type":5})",
     "schema #: 'type' must be a type name or a non-empty array of type names"},
    {"type_empty_array", R"({"type":[]})",
     "schema #: 'type' must be a type name or a non-empty array of type names"},
    {"type_array_of_number", R"({"type":["string",1]})",
     "schema #: 'type' must be a type name or a non-empty array of type names"},
    {"type_unknown", R"({"type":"str"})", "schema #: unknown type 'str'"},
    {"nested_location", R"({"properties":{"a":{"items":{"type":"int"}}}})",
     "schema #/properties/a/items: unknown type 'int'"},
    {"properties_array", R"({"properties":[]})", "schema #: 'properties' must be an object"},
    {"property_not_schema", R"({"properties":{"a":"string"}})",
     "schema #/properties/a: expected a schema (object or boolean), got string"},
    {"additional_properties_number", R"({"additionalProperties":1})",
     "schema #/additionalProperties: expected a schema (object or boolean), got number"},
    {"required_bool", R"({"properties":{"a":{"required":true}}})",
     "schema #/properties/a: 'required' must be an array of property names"},
    {"required_numbers", R"({"required":[1]})", "schema #: 'required' must be an array of property names"},
    {"min_properties_negative", R"({"minProperties":-1})", "schema #: 'minProperties' must be a non-negative integer"},
    {"max_properties_string", R"({"maxProperties":"2"})", "schema #: 'maxProperties' must be a non-negative integer"},
    {"items_string", R"({"items":"string"})", "schema #/items: expected a schema (object or boolean), got string"},
    {"tuple_item_bad", R"({"items":[{},{"type":7}]})",
     "schema #/items/1: 'type' must be a type name or a non-empty array of type names"},
    {"min_items_fraction", R"({"minItems":1.5})", "schema #: 'minItems' must be a non-negative integer"},
    {"max_items_negative", R"({"maxItems":-2})", "schema #: 'maxItems' must be a non-negative integer"},
    {"unique_items_string", R"({"uniqueItems":"yes"})", "schema #: 'uniqueItems' must be a boolean"},
    {"min_length_string", R"({"minLength":"1"})", "schema #: 'minLength' must be a non-negative integer"},
    {"max_length_negative", R"({"maxLength":-1})", "schema #: 'maxLength' must be a non-negative integer"},
    {"pattern_number", R"({"pattern":5})", "schema #: 'pattern' must be a string"},
    {"minimum_string", R"({"minimum":"1"})", "schema #: 'minimum' must be a number"},
    {"maximum_null", R"({"maximum":null})", "schema #: 'maximum' must be a number"},
    {"exclusive_string", R"({"exclusiveMinimum":"1"})",
     "schema #: 'exclusiveMinimum' must be a number or a boolean"},
    {"draft4_exclusive_without_bound", R"({"exclusiveMaximum":true})",
     "schema #: 'exclusiveMaximum': true needs 'maximum'"},
    {"multiple_zero", R"({"multipleOf":0})", "schema #: 'multipleOf' must be a number > 0"},
    {"enum_object", R"({"enum":{"a":1}})", "schema #: 'enum' must be an array"},
    {"all_of_object", R"({"allOf":{}})", "schema #: 'allOf' must be a non-empty array of schemas"},
    {"any_of_empty", R"({"anyOf":[]})", "schema #: 'anyOf' must be a non-empty array of schemas"},
    {"one_of_bad_member", R"({"oneOf":[{},3]})",
     "schema #/oneOf/1: expected a schema (object or boolean), got number"},
    {"not_array", R"({"not":[]})", "schema #/not: expected a schema (object or boolean), got array"},
    {"definitions_array", R"({"definitions":[]})", "schema #: 'definitions' must be an object"},
    {"unused_definition_checked", R"({"$defs":{"x":{"type":"nope"}}})", "schema #/$defs/x: unknown type 'nope'"},
    {"ref_number", R"({"$ref":1})", "schema #: '$ref' must be a string"},
    {"ref_dangling", R"({"properties":{"a":{"$ref":"#/definitions/missing"}}})",
     "schema #/properties/a: dangling $ref '#/definitions/missing'"},
    {"ref_remote", R"({"$ref":"http://example.com/s.json#/a"})",
     "schema #: unsupported $ref 'http://example.com/s.json#/a': only local refs ('#/...') are supported"},
    {"ref_anchor", R"({"$ref":"#foo"})", "schema #: malformed $ref '#foo': not a JSON pointer"},
    {"ref_bad_escape", R"({"definitions":{"a":{}},"$ref":"#/definitions/~2"})",
     "schema #: malformed $ref '#/definitions/~2': not a JSON pointer"},
    {"ref_bad_index", R"({"allOf":[{}],"$ref":"#/allOf/x"})", "schema #: dangling $ref '#/allOf/x'"},
    {"ref_to_non_schema", R"({"required":["a"],"$ref":"#/required"})",
     "schema #/required: expected a schema (object or boolean), got array"},
    {"ref_target_malformed", R"({"definitions":{"a":{"minimum":"x"}},"items":{"$ref":"#/definitions/a"}})",
     "schema #/definitions/a: 'minimum' must be a number"},
    {"ref_self_cycle", R"({"$ref":"#"})", "schema #: $ref cycle through '#'"},
    {"ref_mutual_cycle", R"({"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}}})",
     "schema #/definitions/a: $ref cycle through '#/definitions/b'"},
};
INSTANTIATE_TEST_SUITE_P(Malformed, Compile, testing::ValuesIn(kBad),
                         [](const auto& info) { return std::string(info.param.name); });

// std::regex's own wording is implementation-defined, so only our part is exact.
TEST(JsonSchemaCompile, BadRegexNamesPatternAndLocation) {
  for (const char* text : {R"({"properties":{"a":{"pattern":"[a-"}}})", R"({"properties":{"a":{"patternProperties":{"(":{}}}}})"}) {
    std::string error;
    EXPECT_FALSE(JsonSchema::compile(json::parse(text), &error).has_value()) << text;
    EXPECT_EQ(error.rfind("schema #/properties/a: invalid regex '", 0), 0u) << error;
  }
}

TEST(JsonSchemaCompile, NullErrorPointerIsAllowed) {
  EXPECT_FALSE(JsonSchema::compile(json(5), nullptr).has_value());
  EXPECT_TRUE(JsonSchema::compile(json::object(), nullptr).has_value());
}

TEST(JsonSchemaCompile, AbsurdlyNestedSchemaIsRejected) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += R"({"items":)";
  json schema = json::parse(text + "{}" + std::string(1000, '}'));
  std::string error;
  EXPECT_FALSE(JsonSchema::compile(schema, &error).has_value());
  EXPECT_NE(error.find("nested too deeply"), std::string::npos) << error;
}

TEST(JsonSchemaValidate, NullErrorPointerIsAllowed) {
  JsonSchema schema = compile_ok(R"({"type":"string"})");
  EXPECT_FALSE(schema.validate(json(1), "config", nullptr));
  EXPECT_TRUE(schema.validate(json("s"), "config", nullptr));
}

TEST(JsonSchemaValidate, EmptyRootNameOmitsLeadingDot) {
  JsonSchema schema = compile_ok(R"({"properties":{"a":{"items":{"type":"string"}}}})");
  std::string error;
  EXPECT_FALSE(schema.validate(json::parse(R"({"a":[1]})"), "", &error));
  EXPECT_EQ(error, "a[0]: expected string, got number");
}

TEST(JsonSchemaValidate, ErrorIsFirstViolationOnly) {
  JsonSchema schema = compile_ok(R"({"required":["a","b"]})");
  std::string error;
  EXPECT_FALSE(schema.validate(json::object(), "config", &error));
  EXPECT_EQ(error, "config: missing required property 'a'");
}

// std::regex recurses per subject byte; long subjects are refused, not crashed on.
// PCRE2 matches without recursion: long subjects are fine.
TEST(JsonSchemaValidate, PatternMatchesLongSubjects) {
  JsonSchema schema = compile_ok(R"({"additionalProperties":{"pattern":"^(a|b)*$"}})");
  std::string error;
  EXPECT_TRUE(schema.validate(json{{"k", std::string(100000, 'a')}}, "config", &error)) << error;
  EXPECT_FALSE(schema.validate(json{{"k", std::string(100000, 'a') + "c"}}, "config", &error));

  JsonSchema keys = compile_ok(R"({"patternProperties":{"^x-":{"type":"integer"}}})");
  EXPECT_FALSE(keys.validate(json{{"x-" + std::string(3000, 'y'), "s"}}, "config", &error));
  EXPECT_TRUE(keys.validate(json{{std::string(3000, 'x'), "s"}}, "config", &error)) << error;
}

// Recursion that consumes no input must end in an error, not a stack overflow.
TEST(JsonSchemaValidate, NonConsumingRecursionIsBounded) {
  JsonSchema schema = compile_ok(R"({"allOf":[{"$ref":"#"}]})");
  std::string error;
  EXPECT_FALSE(schema.validate(json(1), "config", &error));
  EXPECT_EQ(error, "config: nested too deeply (recursive schema?)");
}

TEST(JsonSchemaValidate, DeepValueIsBounded) {
  JsonSchema schema = compile_ok(R"({"items":{"$ref":"#"}})");
  // Parsed rather than built by wrapping, which would copy quadratically.
  json value = json::parse(std::string(5000, '[') + std::string(5000, ']'));
  std::string error;
  EXPECT_FALSE(schema.validate(value, "config", &error));
  EXPECT_NE(error.find("nested too deeply"), std::string::npos) << error.substr(0, 200);
}

TEST(JsonSchemaValidate, InvalidUtf8InValueDoesNotThrow) {
  JsonSchema schema = compile_ok(R"({"enum":["a"],"additionalProperties":{"const":1}})");
  std::string error;
  EXPECT_FALSE(schema.validate(json(std::string("\xff\xfe")), "config", &error));
  EXPECT_EQ(error, "config: must be one of [\"a\"], got \"\xef\xbf\xbd\xef\xbf\xbd\"");
}

TEST(JsonSchemaValidate, CopiesShareCompiledSchemaAcrossThreads) {
  JsonSchema schema = compile_ok(kHeaderSchema);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = schema, &failures, t] {
      for (int i = 0; i < 500; ++i) {
        std::string error;
        bool ok = copy.validate(json::parse(R"({"header":"h","headers":[{"name":"n"}]})"), "config", &error);
        bool bad = copy.validate(json::parse(R"({"header":1})"), "config", &error);
        if (!ok || bad || error != "config.header: expected string, got number") ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

// The shape of a real Kong filter's meta.json config_schema.
TEST(JsonSchemaValidate, KongStyleFilterSchema) {
  JsonSchema schema = compile_ok(R"({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
      "add": {"type": "object", "properties": {
        "headers": {"type": "array", "items": {"type": "string", "pattern": "^[^:]+:.*$"}}}},
      "remove": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": true},
      "mode": {"type": "string", "enum": ["append", "replace"], "default": "append"},
      "timeout_ms": {"type": "integer", "exclusiveMinimum": 0, "maximum": 60000}
    },
    "additionalProperties": false
  })");
  std::string error;
  EXPECT_TRUE(schema.validate(json::parse(R"({"add":{"headers":["x-a:1"]},"remove":["x-b"],"mode":"replace",
                                               "timeout_ms":100})"), "config", &error)) << error;
  EXPECT_FALSE(schema.validate(json::parse(R"({"add":{"headers":["x-a:1","nocolon"]}})"), "config", &error));
  EXPECT_EQ(error, R"(config.add.headers[1]: must match pattern '^[^:]+:.*$', got "nocolon")");
  EXPECT_FALSE(schema.validate(json::parse(R"({"timeout_ms":0})"), "config", &error));
  EXPECT_EQ(error, "config.timeout_ms: must be > 0, got 0");
  EXPECT_FALSE(schema.validate(json::parse(R"({"mode":"prepend"})"), "config", &error));
  EXPECT_EQ(error, R"(config.mode: must be one of ["append","replace"], got "prepend")");
  EXPECT_FALSE(schema.validate(json::parse(R"({"remove":["a",""]})"), "config", &error));
  EXPECT_EQ(error, "config.remove[1]: expected at least 1 character, got 0");
  EXPECT_FALSE(schema.validate(json::parse(R"({"extra":true})"), "config", &error));
  EXPECT_EQ(error, "config: unexpected property 'extra'");
}

}  // namespace

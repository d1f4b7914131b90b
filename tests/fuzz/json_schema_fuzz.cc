// NAME.meta.json config schemas and the filter configs checked against
// them: the input is split at the first NUL into a schema and a value (both
// JSON); compiling any schema and validating any value must not crash,
// and a value must validate the same way twice (compiled schemas are
// immutable and shared).
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view schema_text = in.substr(0, nul);
  std::string_view value_text = nul == std::string_view::npos ? std::string_view("{}") : in.substr(nul + 1);
  nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false);
  nlohmann::json value = nlohmann::json::parse(value_text, nullptr, false);
  if (schema.is_discarded() || value.is_discarded()) return 0;
  std::string error;
  auto compiled = wg::config::JsonSchema::compile(schema, &error);
  if (!compiled) {
    if (error.empty()) abort();  // refusals say why
    return 0;
  }
  std::string e1, e2;
  bool ok1 = compiled->validate(value, "config", &e1);
  bool ok2 = compiled->validate(value, "config", &e2);
  if (ok1 != ok2 || e1 != e2 || (!ok1 && e1.empty())) abort();
  return 0;
}

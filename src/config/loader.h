// Loads Kong's declarative format (`_format_version` "3.0", "2.1" or "1.1",
// YAML or JSON) into validated entities: parse (value.h), normalize through
// the schema engine (declarative.h), bind to typed structs (bind.h). Every
// problem is reported, each as `entity 'name-or-index' field 'x': reason`;
// nothing unsupported is ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/declarative.h"
#include "config/entities.h"

namespace wg::config {

// Returns true when the text is valid; otherwise appends one line per
// problem to errors. `normalized`, when given, receives what the schema
// engine made of the file (ids, defaults, references as {"id": ...}) and the
// problems in structured form, valid or not.
bool load_text(std::string_view text, Declarative& out, std::vector<std::string>& errors,
               Normalized* normalized = nullptr);
// A config normalized already (the store's contents, each entity checked
// when it was written and the whole once when the store opened): bound
// without reading text or normalizing again.
void load_normalized(const Value& normalized, Declarative& out);
bool load_file(const std::string& path, Declarative& out, std::vector<std::string>& errors,
               Normalized* normalized = nullptr);

// The config served when the gateway is started without --config.
extern const char* const kDemoConfig;

}  // namespace wg::config

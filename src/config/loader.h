// Loads Kong's declarative format (`_format_version: "3.0"`, YAML or JSON)
// into validated entities. Every problem is reported, each as
// `entity 'name-or-index' field 'x': reason`; nothing unsupported is ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/entities.h"

namespace wg::config {

// Returns true when the text is valid; otherwise appends to errors.
bool load_text(std::string_view text, Declarative& out, std::vector<std::string>& errors);
bool load_file(const std::string& path, Declarative& out, std::vector<std::string>& errors);

// The config served when the gateway is started without --config.
extern const char* const kDemoConfig;

}  // namespace wg::config

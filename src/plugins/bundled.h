// The bundled plugins' types, one per file in this folder.
#pragma once

#include "plugins/plugin.h"

namespace wg::plugins {

// The names every plugin file uses.
using pipeline::Exchange;
using pipeline::Slot;
using pipeline::Verdict;
using schema::Field;
using schema::Type;

PluginType request_termination_type();
PluginType correlation_id_type();
PluginType ip_restriction_type();
PluginType request_size_limiting_type();
PluginType cors_type();
PluginType key_auth_type();
PluginType acl_type();
PluginType rate_limiting_type();
PluginType response_transformer_type();

// Field builders the plugin schemas share.
schema::Field config_record(std::vector<schema::Field> fields);
std::string str_or_empty(const config::Value& v, const char* key);
// Kong's header_name typedef: letters, digits, '-' and '_'.
std::optional<std::string> header_name_check(const config::Value& v);

}  // namespace wg::plugins

// Kong's typedefs (kong/db/schema/typedefs.lua): field types every entity
// reuses, defined once.
#pragma once

#include <string>

#include "config/schema.h"

namespace wg::config::typedefs {

using schema::Field;

Field id();                       // uuid, filled by the loader when absent
Field timestamp(std::string name);  // created_at / updated_at
Field name();                     // ascii name: alphanumerics and . - _ ~
Field utf8_name();                // as name, plus any non-ascii UTF-8
Field tags();
Field port(std::string name);
Field timeout(std::string name);
Field path(std::string name);    // starts with "/"
Field host(std::string name);    // hostname or ip
Field header_name(std::string name);
// Kong's header-name rule: letters, digits, '_' and '-' (an empty name passes here).
bool valid_header_name(std::string_view s);
Field protocol_list(std::string name);  // Kong's protocols, one element each
Field foreign(std::string name, std::string entity_type);
Field http_status(std::string name);

// Kong's full protocol list and the subset this gateway serves today.
const std::vector<std::string>& kong_protocols();
bool protocol_supported(const std::string& p);

}  // namespace wg::config::typedefs

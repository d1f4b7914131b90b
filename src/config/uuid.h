// UUIDs for entity ids: validation, and name-based version-5 ids (RFC 4122)
// so that an entity without an id gets the same one on every load.
#pragma once

#include <string>
#include <string_view>

namespace wg::config {

bool is_uuid(std::string_view s);

// RFC 4122 version 5 (SHA-1) of `name` in `namespace_uuid` (canonical text).
std::string uuid_v5(std::string_view namespace_uuid, std::string_view name);

// Kong's DB-less id for an entity of `entity_type` ("services", ...) whose
// identifying key is `key`: v5 in a per-type namespace derived from Kong's
// root namespace, so files written for Kong get the ids Kong gives them.
std::string entity_uuid(std::string_view entity_type, std::string_view key);

}  // namespace wg::config

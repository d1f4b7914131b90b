// Where Kong's Admin API finds each entity type: its URL segment, the
// fields an entity is also addressed by besides its id, and the nested
// forms (/services/{s}/routes) with the child field that names the parent.
// Shared by the reads (kong_api.cc) and the writes (entity_writes.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/value.h"

namespace wg::admin {

struct Endpoint {
  const char* path;    // "key-auths"
  const char* entity;  // "keyauth_credentials"
  std::vector<const char*> keys;  // fields an entity is also found by, besides its id
};

// Null for an unknown path, or for a type this build has no schema for.
const Endpoint* endpoint(std::string_view path);
// The endpoint of an entity type ("keyauth_credentials"), or null.
const Endpoint* endpoint_of(std::string_view entity);
// The reference field `field` of `e`'s entities ("/routes/{r}/service":
// Kong's foreign entity endpoint) names an entity of this endpoint; null
// when `field` is no reference.
const Endpoint* foreign_endpoint(const Endpoint& e, std::string_view field);

// /{parent}/{id}/{child}: the child endpoint and the child's field that
// names the parent.
struct Nested {
  const char* parent;
  const char* child;      // as in the URL
  const char* endpoint;   // the child's own endpoint
  const char* foreign;    // its field referring to the parent
};
const Nested* nested(std::string_view parent, std::string_view child);
// Every entity URL pattern, Kong-style ("/services/{services}/routes").
std::vector<std::string> entity_patterns();

// The list of one entity type in a normalized config (empty when absent).
const config::Value& list_of(const config::Value& all, const char* entity);
// The entity with this id or endpoint key, or null.
const config::Value* find(const config::Value& all, const Endpoint& e, const std::string& key);
// The id a reference field holds ({"id": ...}), or "".
std::string ref_id(const config::Value& v, const char* field);

}  // namespace wg::admin

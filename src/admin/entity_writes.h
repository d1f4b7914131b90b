// Kong's entity writes in database mode: POST creates, PUT upserts, PATCH
// merges, DELETE removes (with Kong's on_delete rules), top-level or under
// a parent (/consumers/{c}/key-auth). Every write builds the next full
// config (the store's contents plus the change), checks the entity as Kong
// does (schema, then references, then unique fields, answering with
// Kong's error of each class), runs the declarative loader's normalizer
// over the whole candidate, and only then commits the changed rows and
// reports the change (the runtime publishes it, coalesced). Before the
// commit, the changed entity and what it references are built as a
// snapshot would build them (its plugin's build, its filter chain's
// filters): a write the running config could not take is refused with
// Kong's schema violation and nothing is stored.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "admin/endpoints.h"
#include "admin/server.h"
#include "config/schema.h"
#include "config/value.h"
#include "store/entity_store.h"

namespace wg::admin {

struct WriteContext {
  store::EntityStore* store = nullptr;
  std::function<void()> changed;  // after each committed write
  // Whether a normalized config would build; false with the problems (lines
  // naming the entity and, as "field 'F': ", the field). Null: not checked.
  std::function<bool(const config::Value& entities, std::vector<std::string>* errors)> check_build;
};

// The parent of a nested form: the child's field naming it and its id.
struct Scope {
  const char* foreign;
  std::string parent_id;
};

// The body as an object, by its Content-Type as Kong's before_filter
// accepts them: JSON, or a form or multipart body with Kong's nested syntax
// typed by `schema`; false with the answer (400, 415) when it cannot be read.
bool read_entity_body(const Request& req, const config::schema::Schema& schema, config::Value* out,
                      Response* refusal);

// POST (key null: a collection), PUT, PATCH or DELETE on one entity of
// `e`, named by `key` (its id or endpoint key), under `scope` when nested.
Response write_entity(const WriteContext& ctx, const Request& req, const Endpoint& e, const std::string* key,
                      const Scope* scope);

}  // namespace wg::admin

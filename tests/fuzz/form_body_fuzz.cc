// The Admin API's form-encoded and multipart bodies (admin/form_body.h): any bytes must
// parse or be refused with a reason, never crash; a parsed body is an
// object, and inferring a plugin entity's types over it must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/form_body.h"
#include "config/entity_schemas.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  wg::config::Value body;
  std::string error;
  wg::config::Value parts;
  std::string multipart_error;
  if (!wg::admin::parse_multipart(in, "multipart/form-data; boundary=b", &parts, &multipart_error) &&
      multipart_error.empty()) {
    abort();
  }
  if (!wg::admin::parse_form(in, &body, &error)) {
    if (error.empty()) abort();  // refusals say why
    return 0;
  }
  if (!body.is_object()) abort();
  for (const char* type : {"routes", "plugins", "upstreams"}) {
    wg::config::Value copy = body;
    wg::admin::infer_entity_types(*wg::config::entity_schema(type), copy);
  }
  return 0;
}

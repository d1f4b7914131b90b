#include "runtime/filters_admin.h"

#include <algorithm>

#include "admin/kong_api.h"
#include "config/value.h"
#include "wasm/proxy_wasm.h"

namespace wg::runtime {
namespace {

using config::Value;

using admin::json;

const char* abi_text(wasm::Abi abi) {
  switch (abi) {
    case wasm::Abi::V0_1_0:
      return "0.1.0";
    case wasm::Abi::V0_2_0:
      return "0.2.0";
    case wasm::Abi::V0_2_1:
      return "0.2.1";
  }
  return "unknown";
}

Value filter_json(const Reloader::LoadedFilter& f) {
  Value v = Value::object();
  v["name"] = f.name;
  wasm::Abi abi;
  v["abi_version"] = wasm::detect_abi(*f.module, &abi) ? Value(abi_text(abi)) : Value(nullptr);
  v["hash"] = f.module->hash();
  v["config_schema"] = !f.config_schema.is_null();
  v["exports"] = Value(f.module->exports());
  return v;
}

}  // namespace

void add_filter_routes(admin::AdminServer& server, const Reloader& reloader) {
  const Reloader* loaded = &reloader;
  server.add_api_route("/filters", [loaded](const admin::Request& r) {
    if (r.method != "GET") return json(405, Value{{"message", "Method not allowed"}});
    std::vector<Reloader::LoadedFilter> filters = loaded->filters();
    std::sort(filters.begin(), filters.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    Value data = Value::array();
    for (const auto& f : filters) data.push_back(filter_json(f));
    return json(200, Value{{"data", std::move(data)}, {"next", nullptr}});
  });
  server.add_api_route("/schemas/filters/{name}", [loaded](const admin::Request& r) {
    if (r.method != "GET") return json(405, Value{{"message", "Method not allowed"}});
    const std::string& name = r.params.at("name");
    for (const auto& f : loaded->filters()) {
      if (f.name != name) continue;
      // Kong's default for a filter without a schema: any JSON string.
      if (f.config_schema.is_null()) return json(200, Value{{"type", "string"}});
      return json(200, f.config_schema);
    }
    return json(404, Value{{"message", "Filter '" + name + "' not found"}});
  });
}

}  // namespace wg::runtime

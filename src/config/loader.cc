#include "config/loader.h"

#include <fstream>
#include <sstream>

#include "config/bind.h"

namespace wg::config {

const char* const kDemoConfig = R"(_format_version: "3.0"
services:
  - name: demo
    url: http://127.0.0.1:8002
    routes:
      - name: demo
        paths: ["/demo"]
        filter_chains:
          - name: demo
            filters:
              - name: demo
                config: "hello from the demo wasm filter"
)";

bool load_text(std::string_view text, Declarative& out, std::vector<std::string>& errors, Normalized* normalized) {
  Value root;
  std::string parse_error;
  if (!parse_value(text, root, &parse_error)) {
    errors.push_back("config 'root' field '-': " + parse_error);
    return false;
  }
  Normalized n = normalize(std::move(root));
  for (const auto& p : n.problems) errors.push_back(p.line());
  bool ok = n.problems.empty();
  if (ok) {
    bind_entities(n.config, out);
    out.warnings.insert(out.warnings.end(), n.warnings.begin(), n.warnings.end());
  }
  if (normalized != nullptr) *normalized = std::move(n);
  return ok;
}

void load_normalized(const Value& normalized, Declarative& out) { bind_entities(normalized, out); }

bool load_file(const std::string& path, Declarative& out, std::vector<std::string>& errors, Normalized* normalized) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors.push_back("config '" + path + "' field '-': cannot open file");
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_text(ss.str(), out, errors, normalized);
}

}  // namespace wg::config

// The --lua-shared-dict flag (lua/shared_dict.h): any bytes parse into
// dictionaries with a name and a size, or are refused with a reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lua/shared_dict.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<wg::lua::DictSpec> specs;
  std::string error;
  if (!wg::lua::parse_shared_dicts(in, &specs, &error)) {
    if (error.empty()) abort();  // refusals say why
    return 0;
  }
  for (const auto& s : specs) {
    if (s.name.empty() || s.bytes == 0 || s.bytes > (size_t{1} << 40)) abort();
    if (s.name.find(',') != std::string::npos) abort();
  }
  return 0;
}

// The server_name extension reader and the sni lookup, differentially
// against a plain model of Kong's order (exact, "*.rest", "head.*", "*").
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "tls/sni.h"

namespace {

void check(bool ok) {
  if (!ok) abort();
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Kong's produce_wild_snis, written out with std::string.
int model(const std::map<std::string, int>& names, const std::string& raw) {
  if (raw.empty() || raw.size() > wg::tls::kMaxServerName) return -1;
  const std::string n = lower(raw);
  auto get = [&names](const std::string& k) {
    auto it = names.find(k);
    return it == names.end() ? -1 : it->second;
  };
  if (int f = get(n); f >= 0) return f;
  if (n.find('*') == std::string::npos) {
    const size_t d1 = n.find('.');
    if (d1 != std::string::npos && d1 > 0) {
      const size_t d2 = n.find('.', d1 + 1);
      if (d2 != std::string::npos && d2 > d1 + 1 && d2 + 1 < n.size()) {
        if (int f = get("*" + n.substr(d1)); f >= 0) return f;
      }
    }
    const size_t dl = n.rfind('.');
    if (dl != std::string::npos && dl > 0 && dl + 1 < n.size() && n[dl - 1] != '.') {
      if (int f = get(n.substr(0, dl + 1) + "*"); f >= 0) return f;
    }
  }
  return get("*");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The extension body as it arrives.
  std::string_view host;
  if (wg::tls::parse_server_name(data, size, &host)) {
    check(!host.empty() && host.size() <= wg::tls::kMaxServerName);
    check(reinterpret_cast<const uint8_t*>(host.data()) >= data &&
          reinterpret_cast<const uint8_t*>(host.data()) + host.size() <= data + size);
  }
  // A table of names and a lookup.
  FuzzedDataProvider in(data, size);
  wg::tls::SniTable table;
  std::map<std::string, int> names;
  const int count = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < count; ++i) {
    std::string n = lower(in.ConsumeRandomLengthString(40));
    if (names.emplace(n, i).second) table.add(n, i);
  }
  const std::string query = in.ConsumeRemainingBytesAsString();
  check(table.find(query) == model(names, query));
  return 0;
}

// The Proxy-Wasm host (ABI 0.1.0, 0.2.0, 0.2.1): one FilterVm is one
// instance of a filter module in one worker. Root contexts (one per filter
// configuration) and HTTP contexts (one per request) live inside it; the
// host functions act on the context and HTTP stream that the current
// callback is about.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wasm/engine.h"

namespace wg::wasm {

enum class Abi { V0_1_0, V0_2_0, V0_2_1 };

// Detects the ABI from the module's marker export; false if none is known.
bool detect_abi(const Module& m, Abi* out);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What a filter sees of (and may change in) one HTTP exchange. Owned by
// the proxy session; filled before each callback.
struct HttpStream {
  HeaderList request_headers;   // with :method, :path, :authority, :scheme
  HeaderList response_headers;  // with :status
  bool response_phase = false;

  // Set by proxy_send_local_response.
  bool local_reply = false;
  int local_status = 0;
  std::string local_body;
  HeaderList local_headers;

  // Read-only facts for properties.
  std::string_view client_ip;
  uint16_t client_port = 0;
  std::string_view route_name;
  std::string_view service_name;
  std::string_view protocol;  // "HTTP/1.1"
};

enum class Action { Continue, Pause, Fail };

class FilterVm {
 public:
  static std::unique_ptr<FilterVm> create(std::shared_ptr<const Module> module, const Limits& limits,
                                          std::string* error);
  ~FilterVm();

  Abi abi() const { return abi_; }
  bool broken() const { return broken_; }
  const std::string& last_error() const { return last_error_; }

  // Creates and configures a root context for one filter configuration;
  // returns its id, or 0 with *error set (on_vm_start or on_configure
  // refused, or the module trapped).
  uint32_t add_root(const std::string& filter_name, const std::string& config, std::string* error);

  uint32_t create_http_context(uint32_t root_id);
  Action on_request_headers(uint32_t ctx, HttpStream& s, bool end_of_stream);
  Action on_response_headers(uint32_t ctx, HttpStream& s, bool end_of_stream);
  void on_log(uint32_t ctx, HttpStream& s);
  void on_done_and_delete(uint32_t ctx, HttpStream& s);

  struct Context {
    uint32_t id = 0;
    uint32_t root = 0;  // 0 for root contexts
    std::string filter_name;
    std::string configuration;
  };

 private:
  FilterVm() = default;
  bool call(const char* fn, const std::vector<uint64_t>& args, uint64_t* result);
  Action headers_callback(const char* fn, uint32_t ctx, HttpStream& s, size_t count, bool eos);
  friend struct HostCalls;

  std::unique_ptr<Vm> vm_;
  Abi abi_ = Abi::V0_2_1;
  bool broken_ = false;
  std::string last_error_;
  std::vector<Context> contexts_;
  uint32_t next_id_ = 1;

  // What the current callback is about.
  uint32_t current_ctx_ = 0;
  HttpStream* stream_ = nullptr;
  const std::string* plugin_config_ = nullptr;  // during on_configure
  const std::string* vm_config_ = nullptr;      // during on_vm_start
  uint32_t tick_period_ms_ = 0;
};

}  // namespace wg::wasm

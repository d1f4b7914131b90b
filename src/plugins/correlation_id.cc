// correlation-id (PRIORITY 100001): gives every request an id header the
// upstream sees (kept when the client sent one), and optionally echoes it
// to the client.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <unistd.h>

#include "plugins/bundled.h"

namespace wg::plugins {
namespace {

std::string random_uuid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return out;
}

enum class Generator { Uuid, UuidCounter, Tracker };

class CorrelationId : public Plugin {
 public:
  explicit CorrelationId(const config::Value& c)
      : Plugin("correlation-id", 100001,
               pipeline::phase_bit(pipeline::Phase::Access) | pipeline::phase_bit(pipeline::Phase::HeaderFilter)),
        header_(str_or_empty(c, "header_name")),
        echo_(c.value("echo_downstream", false)) {
    std::string g = str_or_empty(c, "generator");
    generator_ = g == "uuid" ? Generator::Uuid : g == "tracker" ? Generator::Tracker : Generator::UuidCounter;
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    std::string_view sent = request_header(x, header_);
    std::string id = sent.empty() ? generate(x) : std::string(sent);
    if (sent.empty()) x.request_headers.add(header_, id);
    if (echo_) s.state = std::make_shared<std::string>(std::move(id));
    return Verdict::Continue;
  }

  Verdict header_filter(Exchange& x, Slot& s) const override {
    if (!echo_) return Verdict::Continue;
    std::string id = s.state ? *static_cast<const std::string*>(s.state.get()) : std::string(request_header(x, header_));
    if (id.empty()) id = generate(x);
    x.response_headers.replace(header_, id);
    return Verdict::Continue;
  }

 private:
  std::string generate(const Exchange& x) const {
    switch (generator_) {
      case Generator::Uuid:
        return random_uuid();
      case Generator::UuidCounter: {
        // One uuid per worker, then a counter: unique and cheap.
        thread_local const std::string worker = random_uuid();
        thread_local uint64_t counter = 0;
        return worker + "#" + std::to_string(++counter);
      }
      case Generator::Tracker: {
        // Kong: server address and port, pid, connection, request on it, time.
        double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
        char t[32];
        std::snprintf(t, sizeof t, "%.3f", now);
        return std::string(x.client_ip) + "-" + std::to_string(x.client_port) + "-" + std::to_string(getpid()) + "-" +
               std::to_string(x.serial) + "-1-" + t;
      }
    }
    return {};
  }

  std::string header_;
  bool echo_;
  Generator generator_ = Generator::UuidCounter;
};

}  // namespace

PluginType correlation_id_type() {
  Field config = config_record({
      Field("header_name", Type::String).def("Kong-Request-ID"),
      Field("generator", Type::String).req().def("uuid#counter").choices({"uuid", "uuid#counter", "tracker"}),
      Field("echo_downstream", Type::Boolean).req().def(false),
  });
  return {"correlation-id", 100001, config, [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<CorrelationId>(c);
          }};
}

}  // namespace wg::plugins

// tcp-log (PRIORITY 7): sends each request's log JSON (Kong's
// kong.log.serialize()) as one line to host:port over this worker's
// connection (plugins/log_senders.h), kept open `keepalive` ms. A receiver
// that is down or slow loses entries; the request never waits for it.
#include "plugins/bundled.h"
#include "plugins/log_senders.h"
#include "plugins/log_serializer.h"

namespace wg::plugins {
namespace {

class TcpLog : public Plugin {
 public:
  TcpLog(std::shared_ptr<const Consumers> consumers, LogAddress to, uint32_t timeout_ms,
         uint32_t keepalive_ms, std::string key)
      : Plugin("tcp-log", 7, pipeline::phase_bit(pipeline::Phase::Log)),
        consumers_(std::move(consumers)),
        to_(std::move(to)),
        timeout_ms_(timeout_ms),
        keepalive_ms_(keepalive_ms),
        key_(std::move(key)) {}

  void on_log(Exchange& x, Slot&) const override {
    if (!serves(x)) return;
    LogSenders* senders = LogSenders::current();
    if (senders == nullptr) return;
    std::string entry = log_entry(x, consumers_.get());
    entry.push_back('\n');
    senders->tcp(key_, to_, timeout_ms_, keepalive_ms_, std::move(entry));
  }

 private:
  std::shared_ptr<const Consumers> consumers_;
  LogAddress to_;
  uint32_t timeout_ms_, keepalive_ms_;
  std::string key_;
};

uint32_t ms_of(const config::Value& c, const char* name, double dflt) {
  double v = c.value(name, dflt);
  return v < 1 ? 1 : v > 2147483646 ? 2147483646u : static_cast<uint32_t>(v);
}

}  // namespace

PluginType tcp_log_type() {
  Field config = config_record({
      typedefs::host("host").req(),
      typedefs::port("port").req(),
      Field("timeout", Type::Number).def(10000),
      Field("keepalive", Type::Number).def(60000),
      // No outbound TLS yet (src/client has none): only false is accepted.
      Field("tls", Type::Boolean).req().def(false).not_yet(),
      Field("tls_sni", Type::String).not_yet(),
      lua_code_field(),
  });
  return {"tcp-log", 7, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            LogAddress to(str_or_empty(c, "host"), c.value("port", 0));
            uint32_t timeout = ms_of(c, "timeout", 10000), keepalive = ms_of(c, "keepalive", 60000);
            // Instances with the same destination and settings share a connection.
            std::string key = "tcp " + to.text + " " + std::to_string(timeout) + " " + std::to_string(keepalive);
            return std::make_shared<TcpLog>(ctx.consumers, std::move(to), timeout, keepalive, std::move(key));
          }};
}

}  // namespace wg::plugins

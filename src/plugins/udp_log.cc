// udp-log (PRIORITY 8): sends each request's log JSON (Kong's
// kong.log.serialize()) as one datagram to host:port, from this worker's
// socket (plugins/log_senders.h). A lost datagram is lost; the request
// never waits for it.
#include "plugins/bundled.h"
#include "plugins/log_senders.h"
#include "plugins/log_serializer.h"

namespace wg::plugins {
namespace {

class UdpLog : public Plugin {
 public:
  UdpLog(std::shared_ptr<const Consumers> consumers, LogAddress to, std::string key)
      : Plugin("udp-log", 8, pipeline::phase_bit(pipeline::Phase::Log)),
        consumers_(std::move(consumers)),
        to_(std::move(to)),
        key_(std::move(key)) {}

  void on_log(Exchange& x, Slot&) const override {
    if (!serves(x)) return;
    LogSenders* senders = LogSenders::current();
    if (senders == nullptr) return;
    std::string entry = log_entry(x, consumers_.get());
    senders->udp(key_, to_, std::move(entry));
  }

 private:
  std::shared_ptr<const Consumers> consumers_;
  LogAddress to_;
  std::string key_;
};

}  // namespace

PluginType udp_log_type() {
  Field config = config_record({
      typedefs::host("host").req(),
      typedefs::port("port").req(),
      Field("timeout", Type::Number).def(10000),
      lua_code_field(),
  });
  return {"udp-log", 8, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            LogAddress to(str_or_empty(c, "host"), c.value("port", 0));
            std::string key = "udp " + to.text;
            return std::make_shared<UdpLog>(ctx.consumers, std::move(to), std::move(key));
          }};
}

}  // namespace wg::plugins

// Kong's bundled plugins, natively: each is a pipeline::Handler made from a
// validated config, with Kong's PRIORITY, and registers its config schema
// on the one schema engine (config/schema.h). A plugin overrides only the
// phases it runs in.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/entities.h"
#include "config/schema.h"
#include "config/value.h"
#include "pipeline/handler.h"

namespace wg::plugins {

namespace schema = config::schema;

// Base of every native plugin: the calls it does not override do nothing.
class Plugin : public pipeline::Handler {
 public:
  Plugin(std::string name, int priority, uint32_t phases, pipeline::BodyMode request_body = pipeline::BodyMode::None,
         pipeline::BodyMode response_body = pipeline::BodyMode::None)
      : Handler("plugin", std::move(name), priority, phases, request_body, response_body) {}

  // Kong runs a plugin only for the protocols its `protocols` lists.
  void set_protocols(const std::vector<std::string>& protocols);

  bool attach(pipeline::Exchange&, pipeline::Slot&) const override { return true; }
  pipeline::Verdict on_phase(pipeline::Phase p, pipeline::Exchange& x, pipeline::Slot& s) const final;
  pipeline::Verdict on_body(pipeline::Direction, pipeline::Exchange&, pipeline::Slot&, std::string&,
                            bool) const override {
    return pipeline::Verdict::Continue;
  }
  pipeline::Verdict on_trailers(pipeline::Direction, pipeline::Exchange&, pipeline::Slot&) const override {
    return pipeline::Verdict::Continue;
  }
  void on_log(pipeline::Exchange&, pipeline::Slot&) const override {}
  void detach(pipeline::Exchange&, pipeline::Slot& s) const override { s.state.reset(); }
  std::string failure(const pipeline::Slot&) const override { return {}; }

 protected:
  // Whether the request's scheme is one of its `protocols` (on_phase checks
  // it; a plugin overriding on_log directly asks).
  bool serves(const pipeline::Exchange& x) const;
  // Whether it runs for every scheme (else serves() reads the request
  // head's :scheme, so the plugin uses that head: Handler::heads).
  bool all_protocols() const { return http_ && https_; }
  // The phases a plugin implements (only those in its `phases` are called).
  virtual pipeline::Verdict rewrite(pipeline::Exchange&, pipeline::Slot&) const { return pipeline::Verdict::Continue; }
  virtual pipeline::Verdict access(pipeline::Exchange&, pipeline::Slot&) const { return pipeline::Verdict::Continue; }
  virtual pipeline::Verdict response(pipeline::Exchange&, pipeline::Slot&) const {
    return pipeline::Verdict::Continue;
  }
  virtual pipeline::Verdict header_filter(pipeline::Exchange&, pipeline::Slot&) const {
    return pipeline::Verdict::Continue;
  }

 private:
  bool http_ = true, https_ = true;
};

// kong.response.exit(status, {message = ...}): a JSON body and Kong's
// content type.
pipeline::Verdict exit_json(pipeline::Exchange& x, int status, std::string_view message);
// kong.response.exit(status, body, headers) with a body as given.
pipeline::Verdict exit_with(pipeline::Exchange& x, int status, std::string body, http::HeaderList headers);
// kong.response.error(status, message, headers): the body follows the
// request's Accept header (Kong's JSON, HTML, XML or plain text error
// template, or none for application/grpc) and carries the request id, also
// sent as X-Kong-Request-Id. An empty message is Kong's default phrase for
// the status ("Forbidden" for 403). The plugins whose Kong handler calls
// kong.response.error use this; those calling kong.response.exit with a
// table use exit_json.
pipeline::Verdict exit_error(pipeline::Exchange& x, int status, std::string_view message = {},
                             http::HeaderList headers = {});
// Kong's request id for this exchange ($kong_request_id: 32 hex digits),
// derived from the exchange's serial and per-thread random seeds, so the
// same request always gets the same id and nothing is stored.
std::string request_id(const pipeline::Exchange& x);

// The first value of a request header, or empty.
std::string_view request_header(const pipeline::Exchange& x, std::string_view name);

class Consumers;

// What a config offers the plugins built for it.
struct BuildContext {
  std::shared_ptr<const Consumers> consumers;
  // The whole config, while plugins are built (not kept: the snapshot
  // takes it over). Routes and services are by index, as Match::route.
  const config::Declarative* decl = nullptr;
  // The instance's own scope (ids; empty when unscoped): Kong keys some
  // plugin state by it (rate-limiting counters).
  std::string route_id, service_id;
};

// What the registry knows of one bundled plugin.
struct PluginType {
  std::string name;
  int priority = 0;
  schema::Field config;  // a Record
  // Makes the handler for one validated config; nullptr with *error set when
  // the config cannot be used.
  std::function<std::shared_ptr<Plugin>(const config::Value& config, const BuildContext& ctx, std::string* error)>
      make;
  // Kong's typedefs.no_consumer: it cannot be scoped to a consumer (it runs
  // before one is known: the authentication plugins, acl, cors).
  bool no_consumer = false;
};

// Registers every bundled plugin (idempotent): their schemas become known to
// the config loader, their factories to build_plugin_chains.
void register_bundled();
const PluginType* find_plugin(const std::string& name);
// Every registered plugin, by name.
std::vector<const PluginType*> all_plugins();
// This process's node id (Kong's node_id, in kong_node_info and GET /): a
// random UUID per process (Kong keeps one per prefix directory).
const std::string& node_id();

}  // namespace wg::plugins

// response-transformer (PRIORITY 800): changes response headers (remove,
// rename, replace, add, append) and the top-level keys of a JSON body, in
// that order, as Kong's plugin does.
#include <set>

#include "plugins/bundled.h"
#include "plugins/transform_ops.h"

namespace wg::plugins {
namespace {

// A JSON value of the configured type: string (default), number (skipped
// when not numeric), boolean (true only for "true").
bool typed(const std::string& value, const std::string& type, config::Value* out) {
  if (type == "number") {
    config::Value v = config::Value::parse(value, nullptr, false);
    if (!v.is_number()) return false;
    *out = v;
  } else if (type == "boolean") {
    *out = value == "true";
  } else {
    *out = value;
  }
  return true;
}

bool is_json(std::string_view content_type) {
  std::string t = http::to_lower(content_type);
  if (t.find("application/json") != std::string::npos) return true;
  size_t app = t.find("application/");
  return app != std::string::npos && t.find("+json") != std::string::npos;
}

bool transfer_encoding(const std::string& name) {
  return http::iequals(name, "transfer-encoding") || http::iequals(name, "transfer_encoding");
}

class ResponseTransformer : public Plugin {
 public:
  explicit ResponseTransformer(const config::Value& c)
      : Plugin("response-transformer", 800,
               pipeline::phase_bit(pipeline::Phase::HeaderFilter),
               pipeline::BodyMode::None, pipeline::BodyMode::Stream),
        headers_(ops(c, "headers")),
        json_(ops(c, "json")) {
    for (const char* op : {"replace", "add", "append"}) types_.push_back(list(c, op, "json_types"));
    has_json_ = !json_.remove.empty() || !json_.rename.empty() || !json_.replace.empty() || !json_.add.empty() ||
                !json_.append.empty();
  }

 protected:
  Verdict header_filter(Exchange& x, Slot& s) const override {
    http::HeaderMap& h = x.response_headers;
    // Presence is judged on the headers as they came (Kong's snapshot).
    std::set<std::string> present;
    for (const auto& e : h) present.insert(http::to_lower(e.name));
    std::vector<std::pair<std::string, std::vector<std::string>>> renamed;
    for (const auto& p : headers_.rename) {
      if (!present.count(http::to_lower(p.name)) || p.value.empty()) continue;
      std::vector<std::string> values;
      for (const auto& e : h) {
        if (http::iequals(e.name, p.name)) values.emplace_back(e.value);
      }
      renamed.push_back({p.value, std::move(values)});
    }
    for (const auto& name : headers_.remove) h.remove(name);
    for (size_t i = 0; i < headers_.rename.size(); ++i) {
      if (present.count(http::to_lower(headers_.rename[i].name)) && !headers_.rename[i].value.empty()) {
        h.remove(headers_.rename[i].name);
      }
    }
    for (const auto& [name, values] : renamed) {
      h.remove(name);
      for (const auto& v : values) h.add(name, v);
    }
    for (const auto& p : headers_.replace) {
      if (present.count(http::to_lower(p.name)) && !p.value.empty() && !transfer_encoding(p.name)) h.replace(p.name, p.value);
    }
    for (const auto& p : headers_.add) {
      if (!present.count(http::to_lower(p.name)) && !p.value.empty() && !transfer_encoding(p.name)) h.add(p.name, p.value);
    }
    for (const auto& p : headers_.append) {
      if (!p.value.empty() && !transfer_encoding(p.name)) h.add(p.name, p.value);
    }
    // The body is transformed only when it is JSON (Kong reads the type the
    // upstream sent).
    const http::HeaderMap::Entry* type = h.find("content-type");
    s.word = has_json_ && type != nullptr && is_json(type->value) ? 1 : 0;
    return Verdict::Continue;
  }

  Verdict on_body(pipeline::Direction d, Exchange&, Slot& s, std::string& body, bool end_of_stream) const override {
    if (d != pipeline::Direction::Response || s.word != 1) return Verdict::Continue;
    if (!end_of_stream) return Verdict::Pause;  // hold it all, as Kong buffers it
    config::Value doc = config::Value::parse(body, nullptr, false);
    if (!doc.is_object()) return Verdict::Continue;  // not a JSON object: passed on as it came
    transform(doc);
    body = config::to_json(doc);
    return Verdict::Continue;
  }

 private:
  void transform(config::Value& doc) const {
    for (const auto& k : json_.remove) doc.erase(k);
    for (const auto& p : json_.rename) {
      if (!doc.contains(p.name) || p.name == p.value) continue;
      doc[p.value] = doc[p.name];
      doc.erase(p.name);
    }
    auto type_of = [&](size_t op, size_t i) { return i < types_[op].size() ? types_[op][i] : "string"; };
    config::Value v;
    for (size_t i = 0; i < json_.replace.size(); ++i) {
      const Pair& p = json_.replace[i];
      if (doc.contains(p.name) && typed(p.value, type_of(0, i), &v)) doc[p.name] = v;
    }
    for (size_t i = 0; i < json_.add.size(); ++i) {
      const Pair& p = json_.add[i];
      if (!doc.contains(p.name) && typed(p.value, type_of(1, i), &v)) doc[p.name] = v;
    }
    for (size_t i = 0; i < json_.append.size(); ++i) {
      const Pair& p = json_.append[i];
      if (!typed(p.value, type_of(2, i), &v)) continue;
      auto it = doc.find(p.name);
      if (it == doc.end()) {
        doc[p.name] = config::Value::array({v});
      } else if (it->is_array()) {
        it->push_back(v);
      } else {
        *it = config::Value::array({*it, v});
      }
    }
  }

  Ops headers_, json_;
  std::vector<std::vector<std::string>> types_;  // replace, add, append
  bool has_json_ = false;
};

Field types_field() {
  return Field("json_types", Type::Array).req().def(config::Value::array())
      .of(Field("", Type::String).choices({"boolean", "number", "string"}));
}

}  // namespace

PluginType response_transformer_type() {
  auto record = [](const char* name, std::vector<Field> fields) {
    return Field(name, Type::Record).with(std::move(fields));
  };
  Field config = config_record({
      record("remove", {strings("json"), strings("headers")}),
      record("rename", {strings("json", pair_format), strings("headers", rename_header)}),
      record("replace", {strings("json", pair_format), types_field(), strings("headers", pair_format)}),
      record("add", {strings("json", pair_format), types_field(), strings("headers", pair_format)}),
      record("append", {strings("json", pair_format), types_field(), strings("headers", pair_format)}),
  });
  return {"response-transformer", 800, config,
          [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<ResponseTransformer>(c);
          }};
}

}  // namespace wg::plugins

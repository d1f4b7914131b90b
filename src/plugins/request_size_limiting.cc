// request-size-limiting (PRIORITY 951): refuses request bodies larger than
// allowed_payload_size: by Content-Length before any body is read, and by
// counting a body sent without one.
#include <charconv>

#include "plugins/bundled.h"

namespace wg::plugins {
namespace {

using pipeline::Exchange;
using pipeline::Slot;
using pipeline::Verdict;
using schema::Field;
using schema::Type;

constexpr const char* kTooLarge = "Request size limit exceeded";

class RequestSizeLimiting : public Plugin {
 public:
  explicit RequestSizeLimiting(const config::Value& c)
      : Plugin("request-size-limiting", 951, pipeline::phase_bit(pipeline::Phase::Access), pipeline::BodyMode::Stream),
        require_length_(c.value("require_content_length", false)) {
    std::string unit = str_or_empty(c, "size_unit");
    uint64_t scale = unit == "bytes" ? 1 : unit == "kilobytes" ? 1024 : 1024 * 1024;
    limit_ = static_cast<uint64_t>(c.value("allowed_payload_size", 128)) * scale;
  }

 protected:
  Verdict access(Exchange& x, Slot& s) const override {
    std::string_view length = request_header(x, "content-length");
    if (length.empty()) {
      if (require_length_ && x.request_has_body) return exit_json(x, 411, "A valid Content-Length header is required");
      s.word = 0;  // bytes counted so far
      return Verdict::Continue;
    }
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (ec != std::errc() || end != length.data() + length.size()) {
      return require_length_ ? exit_json(x, 411, "A valid Content-Length header is required") : Verdict::Continue;
    }
    if (n > limit_) return exit_json(x, 413, kTooLarge);
    return Verdict::Continue;
  }

  Verdict on_body(pipeline::Direction d, Exchange& x, Slot& s, std::string& body, bool) const override {
    if (d != pipeline::Direction::Request) return Verdict::Continue;
    // Each piece passes on (never held), so the pieces add up.
    s.word += body.size();
    if (s.word > limit_) return exit_json(x, 413, kTooLarge);
    return Verdict::Continue;
  }

 private:
  uint64_t limit_ = 0;
  bool require_length_;
};

}  // namespace

PluginType request_size_limiting_type() {
  Field config = config_record({
      Field("allowed_payload_size", Type::Integer).req().def(128),
      Field("size_unit", Type::String).req().def("megabytes").choices({"megabytes", "kilobytes", "bytes"}),
      Field("require_content_length", Type::Boolean).req().def(false),
  });
  return {"request-size-limiting", 951, config, [](const config::Value& c, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<RequestSizeLimiting>(c);
          }};
}

}  // namespace wg::plugins

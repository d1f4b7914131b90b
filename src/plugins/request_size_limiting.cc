// request-size-limiting (PRIORITY 951): refuses request bodies larger than
// allowed_payload_size: by Content-Length before any body is read, and by
// counting a body sent without one.
#include <charconv>

#include "plugins/bundled.h"

namespace wg::plugins {
namespace {

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
    s.word = 0;  // body bytes counted so far
    std::string_view length = request_header(x, "content-length");
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if (!length.empty() && ec == std::errc() && end == length.data() + length.size()) {
      return n > limit_ ? too_large(x) : Verdict::Continue;
    }
    // Kong exempts chunked bodies from require_content_length and counts
    // them. (Transfer-Encoding is the session's business and not in the
    // map: a body without a Content-Length is a chunked one.)
    if (require_length_ && !x.request_has_body) {
      return exit_error(x, 411, "A valid Content-Length header is required");
    }
    return Verdict::Continue;
  }

  Verdict on_body(pipeline::Direction d, Exchange& x, Slot& s, std::string& body, bool) const override {
    if (d != pipeline::Direction::Request || !request_header(x, "content-length").empty()) {
      return Verdict::Continue;  // judged by its Content-Length in access
    }
    // Each piece passes on (never held), so the pieces add up.
    s.word += body.size();
    if (s.word > limit_) return too_large(x);
    return Verdict::Continue;
  }

 private:
  // A client waiting on "Expect: 100-continue" is told 417 instead of 413.
  static Verdict too_large(Exchange& x) {
    std::string expect(request_header(x, "expect"));
    std::erase_if(expect, [](char c) { return c == ' ' || c == '\t'; });
    return exit_error(x, http::iequals(expect, "100-continue") ? 417 : 413, kTooLarge);
  }

  uint64_t limit_ = 0;
  bool require_length_;
};

}  // namespace

PluginType request_size_limiting_type() {
  Field config = config_record({
      Field("allowed_payload_size", Type::Integer).def(128),
      Field("size_unit", Type::String).req().def("megabytes").choices({"megabytes", "kilobytes", "bytes"}),
      Field("require_content_length", Type::Boolean).req().def(false),
  });
  return {"request-size-limiting", 951, config, [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<RequestSizeLimiting>(c);
          }};
}

}  // namespace wg::plugins

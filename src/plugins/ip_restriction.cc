// ip-restriction (PRIORITY 990): admits or refuses the client address by
// allow and deny lists of addresses and CIDR ranges; deny wins.
#include <arpa/inet.h>

#include <cstring>

#include "plugins/bundled.h"

namespace wg::plugins {
namespace {

// An address or a range, IPv4 or IPv6, as 16 bytes and a prefix length.
struct Range {
  unsigned char bytes[16] = {};
  int family = AF_INET;
  int prefix = 32;

  bool contains(int fam, const unsigned char* addr) const {
    if (fam != family) return false;
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(addr, bytes, static_cast<size_t>(full)) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (addr[full] & mask) == (bytes[full] & mask);
  }
};

bool parse_address(const std::string& text, int* family, unsigned char* out) {
  if (inet_pton(AF_INET, text.c_str(), out) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

bool parse_range(const std::string& text, Range* r) {
  size_t slash = text.find('/');
  if (!parse_address(text.substr(0, slash), &r->family, r->bytes)) return false;
  int max = r->family == AF_INET ? 32 : 128;
  r->prefix = max;
  if (slash == std::string::npos) return true;
  std::string bits = text.substr(slash + 1);
  // Kong takes the prefix spelled plainly: "8", not "08".
  if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
      (bits.size() > 1 && bits[0] == '0')) {
    return false;
  }
  r->prefix = std::stoi(bits);
  return r->prefix <= max;
}

std::vector<Range> ranges(const config::Value& list) {
  std::vector<Range> out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    Range r;
    if (parse_range(v.get<std::string>(), &r)) out.push_back(r);
  }
  return out;
}

class IpRestriction : public Plugin {
 public:
  explicit IpRestriction(const config::Value& c)
      : Plugin("ip-restriction", 990, pipeline::phase_bit(pipeline::Phase::Access)),
        allow_(ranges(c.value("allow", config::Value()))),
        deny_(ranges(c.value("deny", config::Value()))),
        has_allow_(c.contains("allow") && c["allow"].is_array() && !c["allow"].empty()),
        status_(c.contains("status") && c["status"].is_number() ? c["status"].get<int>() : 403),
        message_(str_or_empty(c, "message")),
        has_message_(c.contains("message") && c["message"].is_string()) {}

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    unsigned char addr[16] = {};
    int family = AF_INET;
    std::string ip(x.client_ip);
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
    if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip = ip.substr(7);
    if (!parse_address(ip, &family, addr)) return refuse(x);
    for (const auto& r : deny_) {
      if (r.contains(family, addr)) return refuse(x);
    }
    if (!has_allow_) return Verdict::Continue;
    for (const auto& r : allow_) {
      if (r.contains(family, addr)) return Verdict::Continue;
    }
    return refuse(x);
  }

 private:
  Verdict refuse(Exchange& x) const {
    return exit_error(x, status_, has_message_ ? message_ : "IP address not allowed: " + std::string(x.client_ip));
  }

  std::vector<Range> allow_, deny_;
  bool has_allow_;
  int status_;
  std::string message_;
  bool has_message_;
};

std::optional<std::string> check_ip_or_cidr(const config::Value& v) {
  Range r;
  const std::string& s = v.get_ref<const std::string&>();
  if (parse_range(s, &r)) return std::nullopt;
  return "invalid ip or cidr range: '" + s + "'";
}

}  // namespace

PluginType ip_restriction_type() {
  schema::EntityCheck one;
  one.kind = schema::EntityCheck::Kind::AtLeastOneOf;
  one.fields = {"allow", "deny"};
  one.then_err = "at least one of these fields must be non-empty: 'config.allow', 'config.deny'";
  Field config = config_record({
      Field("allow", Type::Array).of(Field("", Type::String).check(check_ip_or_cidr)),
      Field("deny", Type::Array).of(Field("", Type::String).check(check_ip_or_cidr)),
      Field("status", Type::Number),
      Field("message", Type::String),
  });
  config.record_checks = {one};
  return {"ip-restriction", 990, config, [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<IpRestriction>(c);
          }};
}

}  // namespace wg::plugins

// Kong's hash_on / hash_fallback for consistent-hashing upstreams: the
// value a request is balanced on.
#include <algorithm>
#include <cctype>
#include <random>
#include <string>

#include "proxy/request_flow.h"

namespace wg::proxy {
namespace {

// URL-decodes a query component ('+' is a space); false on a bad escape.
bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out->push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= in.size() || !isxdigit(static_cast<unsigned char>(in[i + 1])) ||
          !isxdigit(static_cast<unsigned char>(in[i + 2]))) {
        return false;
      }
      out->push_back(static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

// The value consistent-hashing balances on (Kong's hash_on, then
// hash_fallback when the first source is empty).
std::string_view RequestFlow::hash_source(const std::string& on, const std::string& header, const std::string& query_arg,
                                      const std::string& capture, std::string_view path) {
  const auto& u = balancer_->config();
  if (on == "ip") return down_->client_ip;
  if (on == "path") return path;
  // Headers as the handlers left them (Kong balances after access).
  const http::Header* headers;
  size_t num_headers;
  outgoing_request_headers(&headers, &num_headers);
  // ... and the lines they added to a head they only add to (after it).
  const http::HeaderMap* added = added_lines(pipeline::Direction::Request);
  if (on == "header") {
    for (size_t i = 0; i < num_headers; ++i) {
      if (http::iequals(headers[i].name, header)) return headers[i].value;
    }
    const http::Header* e = added != nullptr ? added->find(header) : nullptr;
    return e != nullptr ? e->value : std::string_view();
  }
  if (on == "query_arg") {
    // As Kong's get_query_arg: values decoded; repeated args sorted and joined.
    std::vector<std::string>& values = hash_values_;
    values.clear();
    std::string_view q = down_->req.query;
    while (!q.empty()) {
      size_t amp = q.find('&');
      std::string_view kv = q.substr(0, amp);
      size_t eq = kv.find('=');
      std::string key, value;
      if (percent_decode(kv.substr(0, eq), &key) && key == query_arg && eq != std::string_view::npos &&
          percent_decode(kv.substr(eq + 1), &value)) {
        values.push_back(std::move(value));
      }
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
    std::sort(values.begin(), values.end());
    hash_scratch_.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) hash_scratch_.push_back(',');
      hash_scratch_.append(values[i]);
    }
    return hash_scratch_;
  }
  if (on == "uri_capture") {
    if (!match_->regex || match_->re == nullptr) return {};
    for (int i = 1; i < match_->captures.count; ++i) {
      bool named = match_->re->group_name(i) == capture;
      bool numbered = std::to_string(i) == capture;
      if ((named || numbered) && match_->captures.begin[i] <= match_->captures.end[i] &&
          match_->captures.end[i] <= path.size()) {
        return path.substr(match_->captures.begin[i], match_->captures.end[i] - match_->captures.begin[i]);
      }
    }
    return {};
  }
  if (on == "cookie") {
    bool found = false;
    auto find_cookie = [&](const http::Header* list, size_t n) -> std::string_view {
      for (size_t i = 0; i < n; ++i) {
        if (!http::iequals(list[i].name, "cookie")) continue;
        std::string_view c = list[i].value;
        while (!c.empty()) {
          size_t semi = c.find(';');
          std::string_view kv = c.substr(0, semi);
          while (!kv.empty() && kv.front() == ' ') kv.remove_prefix(1);
          size_t eq = kv.find('=');
          if (eq != std::string_view::npos && kv.substr(0, eq) == u.hash_on_cookie) {
            found = true;
            return kv.substr(eq + 1);
          }
          if (semi == std::string_view::npos) break;
          c.remove_prefix(semi + 1);
        }
      }
      return {};
    };
    std::string_view sent = find_cookie(headers, num_headers);
    if (!found && added != nullptr) sent = find_cookie(added->data(), added->size());
    if (found) return sent;
    // No cookie yet: make one (a random UUID, as Kong), and hand it to the
    // client with the response.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t hi = rng(), lo = rng();
    char value[40];
    snprintf(value, sizeof value, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
             static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0x0fff),
             static_cast<unsigned>(0x8000 | ((lo >> 48) & 0x3fff)),
             static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    set_cookie_ = "Set-Cookie: " + u.hash_on_cookie + "=" + value + "; Path=" + u.hash_on_cookie_path +
                  "; Same-Site=Lax; HttpOnly\r\n";
    cookie_value_ = value;
    return cookie_value_;
  }
  if (on == "consumer" && x_ != nullptr && runner_->active()) {
    // Kong: the authenticated consumer's id, else the credential's (only a
    // request with handlers has an exchange filled for it).
    return !x_->consumer_id.empty() ? std::string_view(x_->consumer_id) : std::string_view(x_->credential_id);
  }
  return {};  // none
}

void RequestFlow::compute_hash(std::string_view path) {
  has_hash_ = false;
  set_cookie_.clear();
  if (!balancer_->uses_hash()) return;
  const auto& u = balancer_->config();
  std::string_view v = hash_source(u.hash_on, u.hash_on_header, u.hash_on_query_arg, u.hash_on_uri_capture, path);
  if (v.empty() && u.hash_fallback != "none") {
    v = hash_source(u.hash_fallback, u.hash_fallback_header, u.hash_fallback_query_arg, u.hash_fallback_uri_capture,
                    path);
  }
  if (v.empty()) return;
  hash_ = upstream::Balancer::hash_key(v);
  has_hash_ = true;
}

}  // namespace wg::proxy

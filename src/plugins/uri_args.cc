#include "plugins/uri_args.h"

#include <algorithm>

namespace wg::plugins {
namespace {

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// What a path may carry unescaped (RFC 3986 pchar and '/'); '%' stays so an
// already escaped path is not escaped twice.
bool path_char(unsigned char c) {
  return unreserved(c) || c == '/' || c == '%' || c == ':' || c == '@' || c == '!' || c == '$' || c == '&' ||
         c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

void append_escaped(std::string& out, std::string_view s, bool (*keep)(unsigned char)) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (keep(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_arg(std::string& out, const Arg& a) {
  if (!out.empty()) out.push_back('&');
  append_escaped(out, a.name, unreserved);
  if (a.flag) return;
  out.push_back('=');
  append_escaped(out, a.value, unreserved);
}

size_t query_start(const pipeline::Exchange& x) { return x.upstream_uri.find('?'); }

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

Args decode_args(std::string_view query) {
  Args args;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view piece = query.substr(0, amp);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      Arg a;
      a.name = percent_decode(piece.substr(0, eq), true);
      a.flag = eq == std::string_view::npos;
      if (!a.flag) a.value = percent_decode(piece.substr(eq + 1), true);
      if (!a.name.empty()) args.push_back(std::move(a));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return args;
}

std::string encode_args(const Args& args) {
  std::string out;
  for (const auto& a : args) append_arg(out, a);
  return out;
}

std::string encode_args_sorted(const Args& args) {
  std::vector<const Arg*> order;
  order.reserve(args.size());
  for (const auto& a : args) order.push_back(&a);
  std::stable_sort(order.begin(), order.end(), [](const Arg* a, const Arg* b) { return a->name < b->name; });
  std::string out;
  for (const Arg* a : order) append_arg(out, *a);
  return out;
}

std::string_view upstream_path(const pipeline::Exchange& x) {
  return std::string_view(x.upstream_uri).substr(0, query_start(x));
}

std::string_view upstream_query(const pipeline::Exchange& x) {
  size_t q = query_start(x);
  return q == std::string::npos ? std::string_view() : std::string_view(x.upstream_uri).substr(q + 1);
}

void set_upstream_path(pipeline::Exchange& x, std::string_view path) {
  std::string uri;
  append_escaped(uri, path, path_char);
  size_t q = query_start(x);
  if (q != std::string::npos) uri.append(x.upstream_uri, q, std::string::npos);
  x.upstream_uri = std::move(uri);
}

void set_upstream_query(pipeline::Exchange& x, std::string_view query) {
  x.upstream_uri.resize(std::min(query_start(x), x.upstream_uri.size()));
  if (query.empty()) return;
  x.upstream_uri.push_back('?');
  x.upstream_uri.append(query);
}

}  // namespace wg::plugins

// request-transformer (PRIORITY 801): changes what goes upstream, as Kong's
// plugin does, in its order: the path (replace.uri), the method
// (http_method), the headers, the body (JSON or form-encoded) and the query
// string, each by remove, rename, replace, add, append. Values may hold
// Kong's templates over the client's request: $(headers.NAME),
// $(query_params.NAME), $(uri_captures.NAME), optionally `or 'default'`.
#include "plugins/bundled.h"
#include "plugins/transform_ops.h"
#include "plugins/uri_args.h"
#include "router/router.h"

namespace wg::plugins {
namespace {

// ---- templates --------------------------------------------------------------

// A value compiled at config time: literal text and lookups.
struct Template {
  enum class Source : uint8_t { Literal, Header, Query, Capture };
  struct Piece {
    Source source = Source::Literal;
    std::string text;      // the literal, or the name looked up
    std::string fallback;  // `or '...'`
  };
  std::vector<Piece> pieces;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// A quoted Lua string literal ('..' or ".."), without escapes.
bool quoted(std::string_view s, std::string* out) {
  if (s.size() < 2 || (s[0] != '\'' && s[0] != '"') || s.back() != s[0]) return false;
  std::string_view inner = s.substr(1, s.size() - 2);
  if (inner.find(s[0]) != std::string_view::npos || inner.find('\\') != std::string_view::npos) return false;
  *out = std::string(inner);
  return true;
}

// One `$( ... )` expression: SOURCE.name, SOURCE["name"] or SOURCE[n],
// then optionally `or 'default'`.
bool compile_expression(std::string_view e, Template::Piece* piece) {
  e = trim(e);
  size_t or_at = e.find(" or ");
  if (or_at != std::string_view::npos) {
    if (!quoted(trim(e.substr(or_at + 4)), &piece->fallback)) return false;
    e = trim(e.substr(0, or_at));
  }
  struct Known {
    const char* name;
    Template::Source source;
  };
  for (Known k : {Known{"headers", Template::Source::Header}, Known{"query_params", Template::Source::Query},
                  Known{"uri_captures", Template::Source::Capture}}) {
    std::string_view name(k.name);
    if (e.substr(0, name.size()) != name) continue;
    std::string_view rest = e.substr(name.size());
    piece->source = k.source;
    if (rest.size() > 1 && rest[0] == '.' && identifier(rest.substr(1))) {
      piece->text = std::string(rest.substr(1));
      return true;
    }
    if (rest.size() > 2 && rest[0] == '[' && rest.back() == ']') {
      std::string_view key = trim(rest.substr(1, rest.size() - 2));
      if (quoted(key, &piece->text)) return true;
      bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string_view::npos;
      if (digits && k.source == Template::Source::Capture) {
        piece->text = std::string(key);
        return true;
      }
    }
    return false;
  }
  return false;
}

// Compiles a value; the reason it cannot be, or empty.
std::string compile(std::string_view value, Template* out) {
  while (!value.empty()) {
    size_t start = value.find("$(");
    if (start == std::string_view::npos) break;
    if (start > 0) out->pieces.push_back({Template::Source::Literal, std::string(value.substr(0, start)), ""});
    // The expression ends at its balancing ')', as Kong's templates read it.
    int depth = 0;
    size_t end = start + 1;
    for (; end < value.size(); ++end) {
      if (value[end] == '(') ++depth;
      if (value[end] == ')' && --depth == 0) break;
    }
    if (end >= value.size()) return "unbalanced '$('";
    Template::Piece piece;
    std::string_view expression = value.substr(start + 2, end - start - 2);
    if (!compile_expression(expression, &piece)) {
      return "'" + std::string(expression) +
             "' is not an expression this gateway renders (headers.NAME, headers[\"NAME\"], query_params.NAME, "
             "uri_captures.NAME or uri_captures[N], optionally followed by or 'default')";
    }
    out->pieces.push_back(std::move(piece));
    value.remove_prefix(end + 1);
  }
  if (!value.empty()) out->pieces.push_back({Template::Source::Literal, std::string(value), ""});
  return "";
}

// What templates read: the client's request as it came to this plugin.
struct TemplateEnv {
  const Exchange& x;
  Args query;  // decoded once, when a template asks
  bool query_read = false;
};

std::string_view header_value(const Exchange& x, const std::string& name) {
  // Kong's header table: any case, '_' read as '-'.
  for (const auto& h : x.request_headers) {
    if (h.name.empty() || h.name[0] == ':' || h.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) {
      char a = static_cast<char>(std::tolower(static_cast<unsigned char>(h.name[i])));
      char b = name[i] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
      same = a == b;
    }
    if (same) return h.value;
  }
  return {};
}

std::string_view capture_value(const Exchange& x, const std::string& name) {
  const router::Match* m = x.match;
  if (m == nullptr || !m->regex || m->re == nullptr) return {};
  std::string_view path = request_header(x, ":path");
  path = path.substr(0, path.find('?'));
  for (int i = 0; i < m->captures.count; ++i) {
    bool named = m->re->group_name(i) == name, numbered = std::to_string(i) == name;
    if ((named || numbered) && m->captures.begin[i] <= m->captures.end[i] && m->captures.end[i] <= path.size()) {
      return path.substr(m->captures.begin[i], m->captures.end[i] - m->captures.begin[i]);
    }
  }
  return {};
}

std::string render(const Template& t, TemplateEnv& env) {
  std::string out;
  for (const auto& p : t.pieces) {
    std::string_view v;
    switch (p.source) {
      case Template::Source::Literal:
        out.append(p.text);
        continue;
      case Template::Source::Header:
        v = header_value(env.x, p.text);
        break;
      case Template::Source::Query:
        if (!env.query_read) {
          std::string_view target = request_header(env.x, ":path");
          size_t q = target.find('?');
          if (q != std::string_view::npos) env.query = decode_args(target.substr(q + 1));
          env.query_read = true;
        }
        for (const auto& a : env.query) {
          if (a.name == p.text) {
            v = a.flag ? std::string_view("true") : std::string_view(a.value);
            break;
          }
        }
        break;
      case Template::Source::Capture:
        v = capture_value(env.x, p.text);
        break;
    }
    out.append(v.empty() ? p.fallback : std::string(v));
  }
  return out;
}

// A Pair whose value is a template.
struct Entry {
  std::string name;
  Template value;
};
struct CompiledOps {
  std::vector<std::string> remove;
  std::vector<Entry> rename, replace, add, append;
  bool empty() const { return remove.empty() && rename.empty() && replace.empty() && add.empty() && append.empty(); }
};

std::vector<Entry> compiled(const std::vector<Pair>& pairs) {
  std::vector<Entry> out;
  for (const auto& p : pairs) {
    Entry e{p.name, {}};
    compile(p.value, &e.value);  // validated by the schema
    out.push_back(std::move(e));
  }
  return out;
}

CompiledOps compiled_ops(const config::Value& c, const char* part) {
  Ops o = ops(c, part);
  return {o.remove, compiled(o.rename), compiled(o.replace), compiled(o.add), compiled(o.append)};
}

// ---- arguments (query string, form bodies) ---------------------------------

bool has_arg(const Args& args, const std::string& name) {
  for (const auto& a : args) {
    if (a.name == name) return true;
  }
  return false;
}

void remove_arg(Args& args, const std::string& name) {
  std::erase_if(args, [&](const Arg& a) { return a.name == name; });
}

// Kong's order on a table of arguments; true when anything changed.
bool transform_args(const CompiledOps& o, Args& args, TemplateEnv& env) {
  bool changed = false;
  for (const auto& name : o.remove) {
    changed = has_arg(args, name) || changed;
    remove_arg(args, name);
  }
  for (const auto& e : o.rename) {
    std::string to = render(e.value, env);
    if (to == e.name || !has_arg(args, e.name)) continue;
    remove_arg(args, to);
    for (auto& a : args) {
      if (a.name == e.name) a.name = to;
    }
    changed = true;
  }
  for (const auto& e : o.replace) {
    if (!has_arg(args, e.name)) continue;
    auto first = std::find_if(args.begin(), args.end(), [&](const Arg& a) { return a.name == e.name; });
    *first = Arg{e.name, render(e.value, env), false};
    args.erase(std::remove_if(first + 1, args.end(), [&](const Arg& a) { return a.name == e.name; }), args.end());
    changed = true;
  }
  for (const auto& e : o.add) {
    if (has_arg(args, e.name)) continue;
    args.push_back(Arg{e.name, render(e.value, env), false});
    changed = true;
  }
  for (const auto& e : o.append) {
    args.push_back(Arg{e.name, render(e.value, env), false});
    changed = true;
  }
  return changed;
}

// ---- JSON bodies ---------------------------------------------------------------

bool transform_json(const CompiledOps& o, config::Value& doc, TemplateEnv& env) {
  bool changed = false;
  for (const auto& name : o.remove) changed = doc.erase(name) > 0 || changed;
  for (const auto& e : o.rename) {
    std::string to = render(e.value, env);
    if (to == e.name || !doc.contains(e.name)) continue;
    doc[to] = doc[e.name];
    doc.erase(e.name);
    changed = true;
  }
  for (const auto& e : o.replace) {
    if (!doc.contains(e.name)) continue;
    doc[e.name] = render(e.value, env);
    changed = true;
  }
  for (const auto& e : o.add) {
    if (doc.contains(e.name)) continue;
    doc[e.name] = render(e.value, env);
    changed = true;
  }
  for (const auto& e : o.append) {
    // Kong's append_value: a string becomes a list, a list grows, anything
    // else is replaced by a new list.
    config::Value v = render(e.value, env);
    auto it = doc.find(e.name);
    if (it != doc.end() && it->is_string()) {
      *it = config::Value::array({*it, v});
    } else if (it != doc.end() && it->is_array()) {
      it->push_back(v);
    } else {
      doc[e.name] = config::Value::array({v});
    }
    changed = true;
  }
  return changed;
}

enum class BodyType : uint8_t { Other, Json, Form };

BodyType body_type(std::string_view content_type) {
  std::string t = http::to_lower(content_type);
  if (t.find("application/json") != std::string::npos) return BodyType::Json;
  if (t.find("application/x-www-form-urlencoded") != std::string::npos) return BodyType::Form;
  return BodyType::Other;  // multipart bodies pass as they came (not transformed yet)
}

// ---- the plugin -----------------------------------------------------------------

class RequestTransformer : public Plugin {
 public:
  RequestTransformer(const config::Value& c, bool transforms_body)
      : Plugin("request-transformer", 801, pipeline::phase_bit(pipeline::Phase::Access),
               transforms_body ? pipeline::BodyMode::Buffer : pipeline::BodyMode::None),
        method_(str_or_empty(c, "http_method")),
        headers_(compiled_ops(c, "headers")),
        query_(compiled_ops(c, "querystring")),
        body_(compiled_ops(c, "body")) {
    auto replace = c.find("replace");
    if (replace != c.end() && replace->contains("uri") && (*replace)["uri"].is_string()) {
      has_uri_ = true;
      compile((*replace)["uri"].get<std::string>(), &uri_);
    }
  }

 protected:
  Verdict access(Exchange& x, Slot&) const override {
    TemplateEnv env{x, {}, false};
    if (has_uri_) {
      std::string path = render(uri_, env);
      if (!path.empty() && path[0] != '/') return exit_error(x, 500);  // Kong: a plugin that throws answers kong.response.error(500)
      if (!path.empty()) set_upstream_path(x, path);
    }
    if (!method_.empty()) x.request_headers.replace(":method", method_);
    transform_headers(x, env);
    if (!query_.empty()) transform_query(x, env);
    return Verdict::Continue;
  }

  Verdict on_body(pipeline::Direction d, Exchange& x, Slot&, std::string& body, bool end_of_stream) const override {
    if (d != pipeline::Direction::Request || !end_of_stream) return Verdict::Continue;
    TemplateEnv env{x, {}, false};
    switch (body_type(request_header(x, "content-type"))) {
      case BodyType::Json: {
        config::Value doc = body.empty() ? config::Value::object() : config::Value::parse(body, nullptr, false);
        if (doc.is_object() && transform_json(body_, doc, env)) body = config::to_json(doc);
        break;
      }
      case BodyType::Form: {
        Args args = decode_args(body);
        if (transform_args(body_, args, env)) body = encode_args(args);
        break;
      }
      case BodyType::Other:
        break;
    }
    return Verdict::Continue;
  }

 private:
  static bool is_host(std::string_view name) { return http::iequals(name, "host"); }
  static bool present(const Exchange& x, std::string_view name) {
    return !is_host(name) && x.request_headers.find(name) != nullptr;
  }

  void transform_headers(Exchange& x, TemplateEnv& env) const {
    http::HeaderMap& h = x.request_headers;
    for (const auto& name : headers_.remove) {
      if (!is_host(name)) h.remove(name);
    }
    for (const auto& e : headers_.rename) {
      std::string to = render(e.value, env);
      if (!present(x, e.name) || http::iequals(to, e.name)) continue;
      std::vector<std::string> values;
      for (const auto& f : h) {
        if (http::iequals(f.name, e.name)) values.emplace_back(f.value);
      }
      h.remove(e.name);
      h.remove(to);
      for (const auto& v : values) h.add(to, v);
    }
    for (const auto& e : headers_.replace) {
      // Kong replaces Host whether or not the client sent one.
      if (is_host(e.name)) {
        h.replace(":authority", render(e.value, env));
      } else if (present(x, e.name)) {
        h.replace(e.name, render(e.value, env));
      }
    }
    for (const auto& e : headers_.add) {
      if (!is_host(e.name) && !present(x, e.name)) h.add(e.name, render(e.value, env));
    }
    for (const auto& e : headers_.append) {
      if (!is_host(e.name)) h.add(e.name, render(e.value, env));
    }
  }

  // The client's query string, transformed, becomes the upstream's (Kong
  // sorts its names).
  void transform_query(Exchange& x, TemplateEnv& env) const {
    std::string_view target = request_header(x, ":path");
    size_t q = target.find('?');
    Args args = q == std::string_view::npos ? Args() : decode_args(target.substr(q + 1));
    transform_args(query_, args, env);
    set_upstream_query(x, encode_args_sorted(args));
  }

  std::string method_;
  CompiledOps headers_, query_, body_;
  Template uri_;
  bool has_uri_ = false;
};

// Kong's check_for_value: a value, and a template that compiles.
std::optional<std::string> value_check(const config::Value& v) {
  Pair p = split(v.get<std::string>());
  if (p.value.empty()) return "key '" + p.name + "' has no value";
  Template t;
  std::string why = compile(p.value, &t);
  if (!why.empty()) return "value '" + p.value + "' is not in supported format, error:" + why;
  return std::nullopt;
}

std::optional<std::string> header_value_check(const config::Value& v) {
  if (auto bad = pair_format(v)) return bad;
  Pair p = split(v.get<std::string>());
  if (auto bad = valid_header(p.name)) return bad;
  Template t;
  std::string why = compile(p.value, &t);
  if (!why.empty()) return "value '" + p.value + "' is not in supported format, error:" + why;
  return std::nullopt;
}

std::optional<std::string> header_name_check(const config::Value& v) { return valid_header(v.get<std::string>()); }

std::optional<std::string> http_method_check(const config::Value& v) {
  const std::string& m = v.get_ref<const std::string&>();
  for (char c : m) {
    if (c < 'A' || c > 'Z') return "invalid value: " + m;
  }
  return std::nullopt;
}

std::optional<std::string> uri_check(const config::Value& v) {
  Template t;
  std::string why = compile(v.get<std::string>(), &t);
  if (!why.empty()) return "value '" + v.get<std::string>() + "' is not in supported format, error:" + why;
  return std::nullopt;
}

}  // namespace

PluginType request_transformer_type() {
  auto record = [](const char* name, std::vector<Field> fields) {
    return Field(name, Type::Record).with(std::move(fields));
  };
  auto colon_record = [&](const char* name, schema::Custom headers_check) {
    return record(name, {strings("body", value_check), strings("headers", std::move(headers_check)),
                         strings("querystring", value_check)});
  };
  Field replace = colon_record("replace", header_value_check);
  replace.fields.push_back(Field("uri", Type::String).check(uri_check));
  Field config = config_record({
      Field("http_method", Type::String).check(http_method_check),
      record("remove", {strings("body"), strings("headers", header_name_check), strings("querystring")}),
      colon_record("rename", rename_header),
      replace,
      colon_record("add", header_value_check),
      colon_record("append", header_value_check),
  });
  return {"request-transformer", 801, config,
          [](const config::Value& c, const BuildContext&, std::string*) -> std::shared_ptr<Plugin> {
            bool body = false;
            for (const char* op : {"remove", "rename", "replace", "add", "append"}) body = body || !list(c, op, "body").empty();
            return std::make_shared<RequestTransformer>(c, body);
          }};
}

}  // namespace wg::plugins

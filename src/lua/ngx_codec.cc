#include "lua/ngx_codec.h"

#include "plugins/auth_codec.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pcre2.h>
#include <zlib.h>

#include <cctype>
#include <cstring>
#include <list>
#include <memory>
#include <unordered_map>

namespace wg::lua {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// nginx's base64 (ngx_encode_base64 / ngx_decode_base64), shared with
// basic-auth and hmac-auth: one codec for Kong's ngx.*_base64.
std::string encode_base64(std::string_view in, bool pad) {
  std::string out = plugins::auth::encode_base64(in);
  if (!pad) {
    while (!out.empty() && out.back() == '=') out.pop_back();
  }
  return out;
}

bool decode_base64(std::string_view in, std::string* out) { return plugins::auth::decode_base64(in, *out); }

// type 2 (the default, a URI component): all but A-Z a-z 0-9 - . _ ~;
// type 0 (a URI): space, #, %, ?, controls and bytes >= 0x7f.
std::string escape_uri(std::string_view in, int type) {
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    bool keep = type == 0 ? (c > 0x20 && c < 0x7f && c != '#' && c != '%' && c != '?')
                          : (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~');
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// %XX decoded ('+' is a space, as ngx.unescape_uri); a bad escape is kept.
std::string unescape_uri(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
        hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else if (in[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

namespace {

std::string_view arg(lua_State* L, int i) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, i, &n);
  return {s, n};
}

int push(lua_State* L, std::string_view s) {
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}

int l_encode_base64(lua_State* L) { return push(L, encode_base64(arg(L, 1), lua_toboolean(L, 2) == 0)); }

int l_decode_base64(lua_State* L) {
  std::string out;
  if (!decode_base64(arg(L, 1), &out)) {
    lua_pushnil(L);
    return 1;
  }
  return push(L, out);
}

int digest(lua_State* L, const EVP_MD* md, bool hex) {
  std::string_view in = arg(L, 1);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(in.data(), in.size(), out, &n, md, nullptr);
  if (!hex) return push(L, std::string_view(reinterpret_cast<const char*>(out), n));
  static constexpr char kLowerHex[] = "0123456789abcdef";
  std::string h;
  for (unsigned int i = 0; i < n; ++i) {
    h.push_back(kLowerHex[out[i] >> 4]);
    h.push_back(kLowerHex[out[i] & 15]);
  }
  return push(L, h);
}

int l_md5(lua_State* L) { return digest(L, EVP_md5(), true); }
int l_md5_bin(lua_State* L) { return digest(L, EVP_md5(), false); }
int l_sha1_bin(lua_State* L) { return digest(L, EVP_sha1(), false); }

int l_hmac_sha1(lua_State* L) {
  std::string_view key = arg(L, 1);
  std::string_view in = arg(L, 2);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(in.data()),
       in.size(), out, &n);
  return push(L, std::string_view(reinterpret_cast<const char*>(out), n));
}

int l_crc32(lua_State* L) {
  std::string_view in = arg(L, 1);
  lua_pushnumber(L, static_cast<lua_Number>(crc32(0, reinterpret_cast<const Bytef*>(in.data()),
                                                  static_cast<uInt>(in.size()))));
  return 1;
}

int l_escape_uri(lua_State* L) { return push(L, escape_uri(arg(L, 1), static_cast<int>(luaL_optinteger(L, 2, 2)))); }
int l_unescape_uri(lua_State* L) { return push(L, unescape_uri(arg(L, 1))); }

// ---- ngx.re: compiled patterns cached per worker (pattern + options), as
// the "o" option asks; an LRU of kRegexCacheSize (lua_regex_cache_max_entries).
constexpr size_t kRegexCacheSize = 1024;

struct Compiled {
  pcre2_code* code = nullptr;
  pcre2_match_data* md = nullptr;
  ~Compiled() {
    if (md != nullptr) pcre2_match_data_free(md);
    if (code != nullptr) pcre2_code_free(code);
  }
};

struct RegexCache {
  std::list<std::pair<std::string, std::unique_ptr<Compiled>>> lru;  // front: most recent
  std::unordered_map<std::string, decltype(lru)::iterator> by_key;
};
thread_local RegexCache regex_cache;

// Compiles (or finds) pattern with ngx.re's option letters; nullptr with
// nil and the error pushed when it does not compile (a bad flag raises).
Compiled* compiled(lua_State* L, std::string_view pattern, std::string_view options) {
  std::string key;
  key.reserve(pattern.size() + options.size() + 1);
  key.append(options).push_back('\0');
  key.append(pattern);
  auto it = regex_cache.by_key.find(key);
  if (it != regex_cache.by_key.end()) {
    regex_cache.lru.splice(regex_cache.lru.begin(), regex_cache.lru, it->second);
    return it->second->second.get();
  }
  uint32_t flags = 0;
  for (char c : options) {
    switch (c) {
      case 'i': flags |= PCRE2_CASELESS; break;
      case 'm': flags |= PCRE2_MULTILINE; break;
      case 's': flags |= PCRE2_DOTALL; break;
      case 'x': flags |= PCRE2_EXTENDED; break;
      case 'u': flags |= PCRE2_UTF; break;
      case 'U': flags |= PCRE2_UTF | PCRE2_NO_UTF_CHECK; break;
      case 'a': flags |= PCRE2_ANCHORED; break;
      case 'D': flags |= PCRE2_DUPNAMES; break;
      case 'J': flags |= PCRE2_ALT_BSUX; break;
      case 'j': case 'o': case 'd': break;  // JIT and caching: always; 'd' (DFA) runs as usual
      default: luaL_error(L, "unknown flag \"%c\" (flags \"%s\")", c, std::string(options).c_str());
    }
  }
  int err = 0;
  PCRE2_SIZE offset = 0;
  auto c = std::make_unique<Compiled>();
  c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags, &err, &offset, nullptr);
  if (c->code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    lua_pushnil(L);
    lua_pushfstring(L, "pcre2_compile() failed: %s in \"%s\" at \"%s\"", reinterpret_cast<const char*>(msg),
                    std::string(pattern).c_str(), std::string(pattern.substr(std::min(pattern.size(), offset))).c_str());
    return nullptr;
  }
  pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
  c->md = pcre2_match_data_create_from_pattern(c->code, nullptr);
  regex_cache.lru.emplace_front(key, std::move(c));
  regex_cache.by_key[key] = regex_cache.lru.begin();
  if (regex_cache.lru.size() > kRegexCacheSize) {
    regex_cache.by_key.erase(regex_cache.lru.back().first);
    regex_cache.lru.pop_back();
  }
  return regex_cache.lru.front().second.get();
}

// wg.re_exec(subject, pattern, options, init, captures) ->
//   from, to[, captures]  (1-based, `to` inclusive) | nil (no match) | nil, err.
// captures: {[0] = whole, [1] = ..., name = ...}; an unmatched group is false.
int l_re_exec(lua_State* L) {
  std::string_view subject = arg(L, 1);
  std::string_view pattern = arg(L, 2);
  std::string_view options = lua_isstring(L, 3) ? arg(L, 3) : std::string_view();
  lua_Integer init = luaL_optinteger(L, 4, 1);
  const bool want = lua_toboolean(L, 5) != 0;
  if (init < 1) init = 1;
  if (static_cast<size_t>(init - 1) > subject.size()) {
    lua_pushnil(L);
    return 1;
  }
  Compiled* c = compiled(L, pattern, options);
  if (c == nullptr) return 2;
  int rc = pcre2_match(c->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       static_cast<PCRE2_SIZE>(init - 1), 0, c->md, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushnil(L);
    return 1;
  }
  if (rc < 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "pcre2_match() failed: %d", rc);
    return 2;
  }
  PCRE2_SIZE* ov = pcre2_get_ovector_pointer(c->md);
  lua_pushinteger(L, static_cast<lua_Integer>(ov[0]) + 1);
  lua_pushinteger(L, static_cast<lua_Integer>(ov[1]));
  if (!want) return 2;
  uint32_t groups = 0;
  pcre2_pattern_info(c->code, PCRE2_INFO_CAPTURECOUNT, &groups);
  lua_createtable(L, static_cast<int>(groups), 1);
  for (uint32_t g = 0; g <= groups; ++g) {
    if (static_cast<int>(g) < rc && ov[2 * g] != PCRE2_UNSET) {
      lua_pushlstring(L, subject.data() + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    } else {
      lua_pushboolean(L, 0);
    }
    lua_rawseti(L, -2, static_cast<int>(g));
  }
  uint32_t names = 0, entry = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(c->code, PCRE2_INFO_NAMECOUNT, &names);
  pcre2_pattern_info(c->code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
  pcre2_pattern_info(c->code, PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < names; ++i) {
    PCRE2_SPTR e = table + i * entry;
    int g = (e[0] << 8) | e[1];
    lua_rawgeti(L, -1, g);
    lua_setfield(L, -2, reinterpret_cast<const char*>(e + 2));
  }
  return 3;
}

const luaL_Reg kCodecPrimitives[] = {
    {"encode_base64", l_encode_base64},
    {"decode_base64", l_decode_base64},
    {"md5", l_md5},
    {"md5_bin", l_md5_bin},
    {"sha1_bin", l_sha1_bin},
    {"hmac_sha1", l_hmac_sha1},
    {"crc32", l_crc32},
    {"escape_uri", l_escape_uri},
    {"unescape_uri", l_unescape_uri},
    {"re_exec", l_re_exec},
    {nullptr, nullptr},
};

}  // namespace

void add_codec_primitives(lua_State* L) { luaL_register(L, nullptr, kCodecPrimitives); }

}  // namespace wg::lua

// The string helpers of OpenResty's ngx API (ngx.encode_base64 and
// decode_base64, md5, md5_bin, sha1_bin, hmac_sha1, escape_uri,
// unescape_uri, crc32) and ngx.re (PCRE2: match, find, gmatch, sub, gsub
// are Lua in the prelude over one primitive, wg.re_exec).
#pragma once

#include <lua.hpp>

#include <string>
#include <string_view>

namespace wg::lua {

// Adds the primitives (codec_*, re_exec) to the table on top of L's stack.
void add_codec_primitives(lua_State* L);

// Exposed for the unit tests.
std::string encode_base64(std::string_view in, bool pad);
bool decode_base64(std::string_view in, std::string* out);
std::string escape_uri(std::string_view in, int type);
std::string unescape_uri(std::string_view in);

}  // namespace wg::lua

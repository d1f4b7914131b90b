// The Lua source of `resty.http` (resty_http.cc), registered in each
// state's package.preload by install_pdk.
#pragma once

namespace wg::lua {

extern const char* const kRestyHttp;

}  // namespace wg::lua

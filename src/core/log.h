// Error log: leveled lines written with one write(2) each, so lines from
// different workers never interleave.
#pragma once

#include <string_view>

namespace wg::log {

enum class Level { Debug, Info, Notice, Warn, Error };

void set_level(Level level);
bool parse_level(std::string_view text, Level* out);
bool enabled(Level level);
// Redirects the error log (default: stderr). Returns false if path can't be opened.
bool open_file(const char* path);
void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace wg::log

#define WG_LOG(level, ...)                                                \
  do {                                                                    \
    if (::wg::log::enabled(::wg::log::Level::level)) ::wg::log::write(::wg::log::Level::level, __VA_ARGS__); \
  } while (0)

#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace wg::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Notice)};
std::atomic<int> g_fd{2};
const char* const kNames[] = {"debug", "info", "notice", "warn", "error"};
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }

bool parse_level(std::string_view text, Level* out) {
  for (int i = 0; i < 5; ++i) {
    if (text == kNames[i]) {
      *out = static_cast<Level>(i);
      return true;
    }
  }
  if (text == "warning") {
    *out = Level::Warn;
    return true;
  }
  return false;
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

bool open_file(const char* path) {
  int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  g_fd.store(fd);
  return true;
}

void write(Level level, const char* fmt, ...) {
  char buf[4096];
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  int n = static_cast<int>(strftime(buf, sizeof buf, "%Y/%m/%d %H:%M:%S ", &tm));
  n += snprintf(buf + n, sizeof buf - n, "[%s] ", kNames[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  n = (m < 0) ? n : (n + m >= static_cast<int>(sizeof buf) - 1 ? static_cast<int>(sizeof buf) - 2 : n + m);
  buf[n++] = '\n';
  ssize_t ignored = ::write(g_fd.load(std::memory_order_relaxed), buf, n);
  (void)ignored;
}

}  // namespace wg::log

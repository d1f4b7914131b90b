// file-log (PRIORITY 9): appends each request's log JSON (Kong's
// kong.log.serialize()) as one line to a file. Each worker opens a path
// once and keeps it (unless `reopen`); the file is opened O_APPEND and a
// line goes in one write(), so lines from several workers never interleave.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "plugins/bundled.h"
#include "plugins/log_senders.h"
#include "plugins/log_serializer.h"

namespace wg::plugins {
namespace {

class FileLog : public Plugin {
 public:
  FileLog(const config::Value& c, std::shared_ptr<const Consumers> consumers)
      : Plugin("file-log", 9, pipeline::phase_bit(pipeline::Phase::Log)),
        consumers_(std::move(consumers)),
        path_(str_or_empty(c, "path")),
        reopen_(c.value("reopen", false)) {}

  void on_log(Exchange& x, Slot&) const override {
    if (!serves(x)) return;
    thread_local std::string line;  // reused: no allocation once grown
    line.clear();
    serialize_log(x, consumers_.get(), line);
    line.push_back('\n');
    int fd = open_file();
    if (fd < 0) return;
    if (::write(fd, line.data(), line.size()) < 0) {
      log_sender_error("file-log", "failed to write to " + path_ + ": " + strerror(errno));
    }
    if (reopen_) ::close(fd);  // a reopen instance never keeps it
  }

 private:
  // This worker's descriptor for path_ (-1 when it cannot be opened),
  // kept for the worker's life; a reopen instance opens it afresh.
  int open_file() const {
    thread_local std::unordered_map<std::string, int> files;
    auto it = files.find(path_);
    if (it != files.end()) return it->second;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      log_sender_error("file-log", "failed to open the file: " + std::string(strerror(errno)));
      return -1;
    }
    if (!reopen_) files.emplace(path_, fd);
    return fd;
  }

  std::shared_ptr<const Consumers> consumers_;
  std::string path_;
  bool reopen_;
};

// Kong's filename rule: no *, &, %, ` anywhere, no space at either end.
std::optional<std::string> valid_filename(const config::Value& v) {
  const auto& s = v.get_ref<const std::string&>();
  auto bad = [](char c) { return c == '*' || c == '&' || c == '%' || c == '`'; };
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  bool ok = s.size() >= 2 && !space(s.front()) && !space(s.back());
  for (char c : s) ok = ok && !bad(c);
  if (!ok) return "not a valid filename";
  return {};
}

}  // namespace

PluginType file_log_type() {
  Field config = config_record({
      Field("path", Type::String).req().check(valid_filename),
      Field("reopen", Type::Boolean).req().def(false),
      lua_code_field(),
  });
  return {"file-log", 9, config,
          [](const config::Value& c, const BuildContext& ctx, std::string*) -> std::shared_ptr<Plugin> {
            return std::make_shared<FileLog>(c, ctx.consumers);
          }};
}

}  // namespace wg::plugins

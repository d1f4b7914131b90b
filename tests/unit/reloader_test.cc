// runtime::Reloader: the one reload path publishes a good config and keeps
// the running one when the new file is bad.
#include "runtime/reloader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {

std::string temp_path() {
  char buf[] = "/tmp/wasmgate-reloader-XXXXXX";
  int fd = mkstemp(buf);
  if (fd >= 0) ::close(fd);
  return buf;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

const char* kGood =
    "_format_version: \"3.0\"\n"
    "services:\n"
    "- name: a\n"
    "  url: http://127.0.0.1:9\n"
    "  routes:\n"
    "  - name: r\n"
    "    paths: [\"/\"]\n";

TEST(Reloader, PublishesGoodConfigsAndKeepsTheRunningOneOnABadFile) {
  std::string path = temp_path();
  write_file(path, kGood);
  wg::runtime::Shared shared;
  shared.settings.config_path = path;
  wg::runtime::Reloader reloader(shared);
  std::vector<std::string> errors;
  ASSERT_TRUE(reloader.load_initial(&errors)) << (errors.empty() ? "" : errors[0]);
  EXPECT_EQ(reloader.generation(), 1u);
  EXPECT_EQ(shared.snapshots.generation(), 1u);
  auto first = shared.snapshots.get();

  write_file(path, "_format_version: \"3.0\"\nservices:\n- name: a\n  url: not a url\n");
  errors.clear();
  EXPECT_FALSE(reloader.reload(&errors));
  EXPECT_FALSE(errors.empty());
  EXPECT_EQ(reloader.generation(), 1u);
  EXPECT_EQ(shared.snapshots.get(), first);  // still serving the first

  write_file(path, std::string(kGood) + "- name: b\n  url: http://127.0.0.1:10\n");
  errors.clear();
  EXPECT_TRUE(reloader.reload(&errors)) << (errors.empty() ? "" : errors[0]);
  EXPECT_EQ(reloader.generation(), 2u);
  EXPECT_EQ(shared.snapshots.generation(), 2u);
  EXPECT_EQ(shared.snapshots.get()->decl.services.size(), 2u);

  reloader.refresh_dns();  // the running config compiled again, not the file
  EXPECT_EQ(reloader.generation(), 3u);
  EXPECT_EQ(shared.snapshots.get()->decl.services.size(), 2u);
  std::remove(path.c_str());
}

}  // namespace

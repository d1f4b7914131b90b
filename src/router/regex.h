// PCRE2 (JIT) regular expressions for route paths and header values.
// A compiled pattern is immutable and shared by all workers; match data is
// per thread, so matching allocates nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace wg::router {

inline constexpr int kMaxCaptures = 16;

struct Captures {
  int count = 0;  // groups matched, including group 0 (the whole match)
  size_t begin[kMaxCaptures] = {};
  size_t end[kMaxCaptures] = {};
};

class Regex {
 public:
  // Compiles pattern; on failure returns nullptr and sets *error.
  // anchored: must match at the start of the subject (Kong anchors paths).
  static std::shared_ptr<const Regex> compile(std::string_view pattern, bool anchored, bool caseless,
                                              std::string* error);
  ~Regex();
  bool match(std::string_view subject, Captures* caps = nullptr) const;
  // Name of capture group i, or empty.
  std::string_view group_name(int i) const;
  int group_count() const { return groups_; }

 private:
  Regex() = default;
  void* code_ = nullptr;  // pcre2_code_8*
  int groups_ = 0;
  std::string names_[kMaxCaptures];
};

}  // namespace wg::router

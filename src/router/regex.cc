#include "router/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace wg::router {
namespace {

// One match-data block per thread, sized for kMaxCaptures groups.
pcre2_match_data* thread_match_data() {
  thread_local struct Holder {
    pcre2_match_data* md = pcre2_match_data_create(kMaxCaptures, nullptr);
    ~Holder() { pcre2_match_data_free(md); }
  } holder;
  return holder.md;
}

}  // namespace

std::shared_ptr<const Regex> Regex::compile(std::string_view pattern, bool anchored, bool caseless,
                                            std::string* error) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options = (anchored ? PCRE2_ANCHORED : 0) | (caseless ? PCRE2_CASELESS : 0);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err,
                                   &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    *error = "invalid regex '" + std::string(pattern) + "': " + reinterpret_cast<char*>(msg) + " at offset " +
             std::to_string(offset);
    return nullptr;
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  std::shared_ptr<Regex> re(new Regex());
  re->code_ = code;
  uint32_t groups = 0;
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
  re->groups_ = static_cast<int>(groups);
  uint32_t name_count = 0, entry_size = 0;
  PCRE2_SPTR table = nullptr;
  pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &name_count);
  pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
  pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
  for (uint32_t i = 0; i < name_count; ++i) {
    PCRE2_SPTR e = table + i * entry_size;
    int n = (e[0] << 8) | e[1];
    if (n < kMaxCaptures) re->names_[n] = reinterpret_cast<const char*>(e + 2);
  }
  return re;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Regex::match(std::string_view subject, Captures* caps) const {
  pcre2_match_data* md = thread_match_data();
  int rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                       0, 0, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // Deep backtracking on a long subject: the interpreter keeps its
    // backtracking on the heap (bounded by PCRE2's heap limit).
    rc = pcre2_match(static_cast<pcre2_code*>(code_), reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                     PCRE2_NO_JIT, md, nullptr);
  }
  if (rc < 0) return false;
  if (caps != nullptr) {
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    int n = rc == 0 ? kMaxCaptures : rc;
    caps->count = n;
    for (int i = 0; i < n; ++i) {
      caps->begin[i] = ov[2 * i];
      caps->end[i] = ov[2 * i + 1];
    }
  }
  return true;
}

std::string_view Regex::group_name(int i) const {
  return (i >= 0 && i < kMaxCaptures) ? std::string_view(names_[i]) : std::string_view();
}

}  // namespace wg::router

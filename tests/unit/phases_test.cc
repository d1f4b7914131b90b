#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/phases.h"

using namespace wg::proxy;

namespace {

class Recorder : public Handler {
 public:
  Recorder(std::string name, int priority, std::vector<std::string>* log, Verdict v = Verdict::Continue)
      : name_(std::move(name)), priority_(priority), log_(log), verdict_(v) {}
  std::string_view name() const override { return name_; }
  int priority() const override { return priority_; }
  Verdict run(Phase phase, ExchangeView& x) override {
    log_->push_back(name_ + ":" + std::to_string(static_cast<int>(phase)));
    if (verdict_ == Verdict::Respond) {
      x.reply_status = 403;
      x.reply_body = "denied";
    }
    Verdict v = verdict_;
    if (once_) verdict_ = Verdict::Continue;  // e.g. a callout that completed
    return v;
  }
  void set(Verdict v, bool once = false) {
    verdict_ = v;
    once_ = once;
  }

 private:
  std::string name_;
  int priority_;
  std::vector<std::string>* log_;
  Verdict verdict_;
  bool once_ = false;
};

std::vector<std::string> names(const std::vector<std::string>& log) {
  std::vector<std::string> out;
  for (const auto& l : log) out.push_back(l.substr(0, l.find(':')));
  return out;
}

}  // namespace

TEST(PhaseRunner, EmptyRunsNothing) {
  PhaseRunner r;
  EXPECT_TRUE(r.empty());
  ExchangeView x;
  size_t at = 42;
  EXPECT_EQ(r.run(Phase::Access, x, 0, &at), Verdict::Continue);
  EXPECT_EQ(at, 42u);  // untouched when nothing stopped
}

TEST(PhaseRunner, DescendingPriorityStableForEqual) {
  std::vector<std::string> log;
  Recorder low("low", 10, &log), high("high", 1000, &log), mid1("mid1", 500, &log), mid2("mid2", 500, &log),
      neg("neg", -5, &log), mid3("mid3", 500, &log);
  PhaseRunner r;
  for (Handler* h : std::vector<Handler*>{&low, &mid1, &neg, &high, &mid2, &mid3}) r.add(h);
  EXPECT_FALSE(r.empty());
  ExchangeView x;
  EXPECT_EQ(r.run(Phase::Rewrite, x), Verdict::Continue);
  EXPECT_EQ(names(log), (std::vector<std::string>{"high", "mid1", "mid2", "mid3", "low", "neg"}));
  EXPECT_EQ(log[0], "high:" + std::to_string(static_cast<int>(Phase::Rewrite)));
}

TEST(PhaseRunner, RespondStopsAndReportsIndex) {
  std::vector<std::string> log;
  Recorder a("a", 300, &log), b("b", 200, &log, Verdict::Respond), c("c", 100, &log);
  PhaseRunner r;
  r.add(&c);
  r.add(&a);
  r.add(&b);
  ExchangeView x;
  size_t at = 99;
  EXPECT_EQ(r.run(Phase::Access, x, 0, &at), Verdict::Respond);
  EXPECT_EQ(at, 1u);
  EXPECT_EQ(names(log), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(x.reply_status, 403);
  EXPECT_EQ(x.reply_body, "denied");
  // Without a stopped_at pointer it still stops.
  log.clear();
  EXPECT_EQ(r.run(Phase::Access, x), Verdict::Respond);
  EXPECT_EQ(names(log), (std::vector<std::string>{"a", "b"}));
}

TEST(PhaseRunner, PauseThenResumeFromIndex) {
  std::vector<std::string> log;
  Recorder a("a", 3, &log), b("b", 2, &log), c("c", 1, &log);
  b.set(Verdict::Pause, /*once=*/true);
  PhaseRunner r;
  r.add(&a);
  r.add(&b);
  r.add(&c);
  ExchangeView x;
  size_t at = 0;
  ASSERT_EQ(r.run(Phase::Access, x, 0, &at), Verdict::Pause);
  EXPECT_EQ(at, 1u);
  EXPECT_EQ(names(log), (std::vector<std::string>{"a", "b"}));
  // Resume at the paused handler: it runs again, then the rest.
  log.clear();
  size_t at2 = 77;
  EXPECT_EQ(r.run(Phase::Access, x, at, &at2), Verdict::Continue);
  EXPECT_EQ(names(log), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(at2, 77u);
  // Resume past it.
  log.clear();
  EXPECT_EQ(r.run(Phase::Access, x, at + 1), Verdict::Continue);
  EXPECT_EQ(names(log), (std::vector<std::string>{"c"}));
  // From beyond the end: nothing runs.
  log.clear();
  EXPECT_EQ(r.run(Phase::Access, x, 10), Verdict::Continue);
  EXPECT_TRUE(log.empty());
}

TEST(PhaseRunner, PassesPhaseThrough) {
  std::vector<std::string> log;
  Recorder a("a", 1, &log);
  PhaseRunner r;
  r.add(&a);
  ExchangeView x;
  for (Phase p : {Phase::Rewrite, Phase::Access, Phase::HeaderFilter, Phase::BodyFilter, Phase::Log}) {
    r.run(p, x);
  }
  EXPECT_EQ(log, (std::vector<std::string>{"a:0", "a:1", "a:2", "a:3", "a:4"}));
}

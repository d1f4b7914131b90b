// The phase runner without a session and without Wasm: test handlers that
// record what they see, pause and resume, hold bodies, answer and fail.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/properties.h"
#include "pipeline/runner.h"

using namespace wg::pipeline;

namespace {

constexpr size_t kLimit = 1024;

// A handler whose answer per phase (and per body call) is set by the test.
// Every call is recorded as "name:what".
class Probe final : public Handler {
 public:
  Probe(std::string name, int priority, std::vector<std::string>* log, uint32_t phases = ~0u,
        BodyMode req = BodyMode::Stream, BodyMode resp = BodyMode::Stream, std::string kind = "plugin")
      : Handler(std::move(kind), std::move(name), priority, phases, req, resp), log_(log) {}

  // The verdict for the next call of `what` ("access", "body:request", ...).
  void answer(const std::string& what, Verdict v) { verdicts_[what] = v; }
  // A local response instead of continuing, in `what`.
  void respond_in(const std::string& what) { respond_in_ = what; }
  // What the handler does to body pieces it lets through.
  void upper_case_bodies() { upper_ = true; }
  bool fail_attach = false;
  mutable int attached = 0, detached = 0;
  mutable ResumeHandle handle;  // taken on attach

  bool attach(Exchange& x, Slot& s) const override {
    record("attach");
    if (fail_attach) return false;
    ++attached;
    s.word = 42;
    handle = ResumeHandle(x);
    return true;
  }
  Verdict on_phase(Phase p, Exchange& x, Slot& s) const override {
    EXPECT_EQ(s.word, 42u);
    if (p == Phase::Response && x.body != nullptr) {
      record("response=" + *x.body);
      if (upper_) {
        for (char& c : *x.body) c = static_cast<char>(toupper(c));
      }
      return act_quiet("response", x);
    }
    return act(phase_name(p), x);
  }
  Verdict on_body(Direction d, Exchange& x, Slot&, std::string& body, bool eos) const override {
    const std::string what = std::string("body:") + (d == Direction::Request ? "request" : "response");
    record(what + "=" + body + (eos ? "$" : ""));
    Verdict v = act_quiet(what, x);
    if (v == Verdict::Continue && upper_) {
      for (char& c : body) c = static_cast<char>(toupper(c));
    }
    return v;
  }
  Verdict on_trailers(Direction d, Exchange& x, Slot&) const override {
    return act(std::string("trailers:") + (d == Direction::Request ? "request" : "response"), x);
  }
  void on_log(Exchange&, Slot&) const override { record("log"); }
  void detach(Exchange&, Slot& s) const override {
    EXPECT_EQ(s.word, 42u);
    ++detached;
    record("detach");
  }
  std::string failure(const Slot&) const override { return "probe told to fail"; }

 private:
  void record(const std::string& what) const { log_->push_back(name() + ":" + what); }
  Verdict act(const std::string& what, Exchange& x) const {
    record(what);
    return act_quiet(what, x);
  }
  Verdict act_quiet(const std::string& what, Exchange& x) const {
    if (respond_in_ == what) {
      x.local_reply = true;
      x.local_status = 403;
      x.local_body = "denied by " + name();
      return Verdict::Pause;  // as a Proxy-Wasm filter does after send_local_response
    }
    auto it = verdicts_.find(what);
    if (it == verdicts_.end()) return Verdict::Continue;
    Verdict v = it->second;
    verdicts_.erase(it);  // once: the next call continues
    return v;
  }
  std::vector<std::string>* log_;
  mutable std::map<std::string, Verdict> verdicts_;
  std::string respond_in_;
  bool upper_ = false;
};

// Counts wake-ups the way a session would.
struct Owner final : ExchangeOwner {
  int wakeups = 0;
  Exchange* current = nullptr;
  void on_handler_wakeup() override { ++wakeups; }
  Exchange* current_exchange() override { return current; }
};

struct Fixture : ::testing::Test {
  std::vector<std::string> log;
  Chain chain;
  Exchange x;
  Owner owner;
  Runner r;
  Fixture() {
    x.owner = &owner;
    owner.current = &x;
  }
  std::shared_ptr<Probe> add(std::string name, int priority, uint32_t phases = ~0u, BodyMode req = BodyMode::Stream,
                             BodyMode resp = BodyMode::Stream) {
    auto p = std::make_shared<Probe>(std::move(name), priority, &log, phases, req, resp);
    chain.add(p);
    return p;
  }
  // A Proxy-Wasm-like handler (kind "filter"): request and response heads.
  std::shared_ptr<Probe> add_filter(std::string name) {
    auto p = std::make_shared<Probe>(std::move(name), kFilterPriority, &log,
                                     phase_bit(Phase::Access) | phase_bit(Phase::HeaderFilter), BodyMode::None,
                                     BodyMode::None, "filter");
    chain.add(p);
    return p;
  }
  bool called(const std::string& what) const {
    for (const auto& l : log) {
      if (l == what) return true;
    }
    return false;
  }
  void begin() {
    x.serial = next_exchange_serial();
    x.local_reply = false;
    r.begin(&chain, &x, kLimit);
  }
  // The log without attach/detach lines.
  std::vector<std::string> calls() const {
    std::vector<std::string> out;
    for (const auto& l : log) {
      if (l.find(":attach") == std::string::npos && l.find(":detach") == std::string::npos) out.push_back(l);
    }
    return out;
  }
};

using Pipeline = Fixture;

TEST_F(Pipeline, AnEmptyChainLeavesTheRunnerInactive) {
  r.begin(&chain, &x, kLimit);
  EXPECT_FALSE(r.active());
  r.begin(nullptr, &x, kLimit);
  EXPECT_FALSE(r.active());
  r.finish();  // harmless
  EXPECT_TRUE(log.empty());
}

TEST_F(Pipeline, HandlersRunByDescendingPriorityAndFiltersAfterPlugins) {
  add("filter-a", kFilterPriority);
  add("low", 10);
  add("high", 1000);
  add("filter-b", kFilterPriority);
  add("mid", 500);
  begin();
  ASSERT_EQ(r.request_head(), Step::Go);
  ASSERT_EQ(r.response_head(), Step::Go);
  r.finish();
  std::vector<std::string> want;
  for (const char* phase : {"rewrite", "access", "response", "header_filter", "log"}) {
    for (const char* h : {"high", "mid", "low", "filter-a", "filter-b"}) want.push_back(std::string(h) + ":" + phase);
  }
  EXPECT_EQ(calls(), want);
}

TEST_F(Pipeline, AHandlerOnlyRunsInItsPhasesAndAttachesOnFirstUse) {
  auto logger = add("logger", 5, phase_bit(Phase::Log), BodyMode::None, BodyMode::None);
  auto auth = add("auth", 1000, phase_bit(Phase::Access), BodyMode::None, BodyMode::None);
  begin();
  ASSERT_EQ(r.request_head(), Step::Go);
  EXPECT_EQ(auth->attached, 1);
  EXPECT_EQ(logger->attached, 0);  // not yet needed
  ASSERT_EQ(r.response_head(), Step::Go);
  r.finish();
  // Each handler logs, then detaches (auth runs no log phase).
  EXPECT_EQ(log, (std::vector<std::string>{"auth:attach", "auth:access", "auth:detach", "logger:attach",
                                           "logger:log", "logger:detach"}));
  EXPECT_FALSE(r.active());
}

TEST_F(Pipeline, TwoPrioritiesInterleavePhaseByPhaseAcrossPauses) {
  auto high = add("high", 2000);
  auto low = add("low", 100);
  begin();
  high->answer("access", Verdict::Pause);
  ASSERT_EQ(r.request_head(), Step::Paused);
  EXPECT_TRUE(r.head_paused());
  EXPECT_EQ(r.paused_side(), Direction::Request);
  high->handle.resume(Direction::Request);
  EXPECT_EQ(owner.wakeups, 1);
  ASSERT_EQ(r.resume_head(), Step::Go);
  low->answer("header_filter", Verdict::Pause);
  ASSERT_EQ(r.response_head(), Step::Paused);
  EXPECT_EQ(r.paused_side(), Direction::Response);
  ASSERT_EQ(r.resume_head(), Step::Go);
  // (Without a response body, the Response phase runs with the head.)
  EXPECT_EQ(calls(), (std::vector<std::string>{"high:rewrite", "low:rewrite", "high:access", "low:access",
                                               "high:response", "low:response", "high:header_filter",
                                               "low:header_filter"}));
}

TEST_F(Pipeline, PausingInRewriteResumesIntoAccess) {
  auto a = add("a", 20);
  add("b", 10);
  begin();
  a->answer("rewrite", Verdict::Pause);
  ASSERT_EQ(r.request_head(), Step::Paused);
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:rewrite"}));
  ASSERT_EQ(r.resume_head(), Step::Go);
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:rewrite", "b:rewrite", "a:access", "b:access"}));
}

TEST_F(Pipeline, APauseResumedDuringTheCallGoesOn) {
  // A handler may resume in the very call that pauses (a callout answered
  // from cache): the phase goes on without waiting.
  class Instant final : public Handler {
   public:
    Instant() : Handler("filter", "instant", 0, phase_bit(Phase::Access), BodyMode::None, BodyMode::None) {}
    bool attach(Exchange&, Slot&) const override { return true; }
    Verdict on_phase(Phase, Exchange& x, Slot&) const override {
      ResumeHandle(x).resume(Direction::Request);
      return Verdict::Pause;
    }
    Verdict on_body(Direction, Exchange&, Slot&, std::string&, bool) const override { return Verdict::Continue; }
    Verdict on_trailers(Direction, Exchange&, Slot&) const override { return Verdict::Continue; }
    void on_log(Exchange&, Slot&) const override {}
    void detach(Exchange&, Slot&) const override {}
    std::string failure(const Slot&) const override { return {}; }
  };
  chain.add(std::make_shared<Instant>());
  begin();
  EXPECT_EQ(r.request_head(), Step::Go);
  EXPECT_FALSE(r.head_paused());
}

TEST_F(Pipeline, AnswersLocallyFromTheRequestHead) {
  auto a = add("a", 20);
  add("b", 10);
  begin();
  a->respond_in("access");
  ASSERT_EQ(r.request_head(), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::Responded);
  EXPECT_EQ(x.local_status, 403);
  EXPECT_EQ(x.local_body, "denied by a");
  r.finish();
  // b never ran in access and was never attached; a still logs and detaches.
  EXPECT_EQ(log, (std::vector<std::string>{"a:attach", "a:rewrite", "b:attach", "b:rewrite", "a:access", "a:log",
                                           "a:detach", "b:log", "b:detach"}));
}

// As Envoy encodes a local reply through the filters that decoded the
// request: the answering filter sees its own answer's head, a filter after
// it (which never saw the request) does not; plugins' header_filter always.
TEST_F(Pipeline, ALocalReplyGoesThroughTheHeadOfFiltersThatSawTheRequest) {
  add("p", 20, phase_bit(Phase::Access) | phase_bit(Phase::HeaderFilter));
  auto f1 = add_filter("f1");
  add_filter("f2");
  begin();
  f1->respond_in("access");
  ASSERT_EQ(r.request_head(), Step::Ended);
  EXPECT_FALSE(called("f1:header_filter"));
  r.filter_local_reply();
  EXPECT_TRUE(called("p:header_filter"));
  EXPECT_TRUE(called("f1:header_filter"));
  EXPECT_FALSE(called("f2:header_filter"));
  EXPECT_FALSE(called("f2:attach"));
  r.finish();
}

// A reply given while the upstream's response is filtered goes out as it is
// for filters (Envoy sends it directly); plugins' header_filter still runs.
TEST_F(Pipeline, ALateLocalReplySkipsTheFilters) {
  add("p", 20, phase_bit(Phase::Access) | phase_bit(Phase::HeaderFilter));
  auto f1 = add_filter("f1");
  begin();
  ASSERT_EQ(r.request_head(), Step::Go);
  f1->respond_in("header_filter");
  x.response_phase = true;  // the upstream's head arrived (the session sets it)
  ASSERT_EQ(r.response_head(), Step::Ended);
  log.clear();
  r.filter_local_reply();
  EXPECT_TRUE(called("p:header_filter"));
  EXPECT_FALSE(called("f1:header_filter"));
  r.finish();
}

TEST_F(Pipeline, AnswersLocallyFromTheResponseHeadAndBody) {
  auto a = add("a", 20);
  begin();
  ASSERT_EQ(r.request_head(), Step::Go);
  a->respond_in("header_filter");
  EXPECT_EQ(r.response_head(), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::Responded);
  r.finish();

  begin();
  a->respond_in("body:response");
  ASSERT_TRUE(r.start_body(Direction::Response));
  EXPECT_EQ(r.feed(Direction::Response, "abc", false), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::Responded);
}

TEST_F(Pipeline, AFailingHandlerEndsTheRequestAndStillDetaches) {
  auto a = add("a", 20);
  auto b = add("b", 10);
  begin();
  b->answer("access", Verdict::Fail);
  EXPECT_EQ(r.request_head(), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::Failed);
  r.finish();
  EXPECT_EQ(a->detached, 1);
  EXPECT_EQ(b->detached, 1);
}

TEST_F(Pipeline, AProxyWasmLikeHandlerDoesNotLogRequestsItNeverSaw) {
  class Quiet final : public Handler {
   public:
    explicit Quiet(std::vector<std::string>* log)
        : Handler("filter", "quiet", kFilterPriority, phase_bit(Phase::Access) | phase_bit(Phase::Log), BodyMode::None,
                  BodyMode::None),
          log_(log) {}
    bool logs_unseen_requests() const override { return false; }
    bool attach(Exchange&, Slot&) const override { return true; }
    Verdict on_phase(Phase, Exchange&, Slot&) const override { return Verdict::Continue; }
    Verdict on_body(Direction, Exchange&, Slot&, std::string&, bool) const override { return Verdict::Continue; }
    Verdict on_trailers(Direction, Exchange&, Slot&) const override { return Verdict::Continue; }
    void on_log(Exchange&, Slot&) const override { log_->push_back("quiet:log"); }
    void detach(Exchange&, Slot&) const override {}
    std::string failure(const Slot&) const override { return {}; }

   private:
    std::vector<std::string>* log_;
  };
  auto a = add("a", 20, phase_bit(Phase::Access) | phase_bit(Phase::Log));
  chain.add(std::make_shared<Quiet>(&log));
  begin();
  a->respond_in("access");
  ASSERT_EQ(r.request_head(), Step::Ended);
  r.finish();
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:access", "a:log"}));
  // When it did see the request, it logs it.
  log.clear();
  a->respond_in("");
  begin();
  ASSERT_EQ(r.request_head(), Step::Go);
  r.finish();
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:access", "a:log", "quiet:log"}));
}

TEST(ChainTest, HeadsNoHandlerUsesAreSpared) {
  class Counter final : public Handler {
   public:
    Counter(uint32_t heads, uint32_t phases = phase_bit(Phase::Log))
        : Handler("plugin", "counter", 13, phases, BodyMode::None, BodyMode::None), heads_(heads) {}
    uint32_t heads() const override { return heads_; }
    bool attach(Exchange&, Slot&) const override { return true; }
    Verdict on_phase(Phase, Exchange&, Slot&) const override { return Verdict::Continue; }
    Verdict on_body(Direction, Exchange&, Slot&, std::string&, bool) const override { return Verdict::Continue; }
    Verdict on_trailers(Direction, Exchange&, Slot&) const override { return Verdict::Continue; }
    void on_log(Exchange&, Slot&) const override {}
    void detach(Exchange&, Slot&) const override {}
    std::string failure(const Slot&) const override { return {}; }

   private:
    uint32_t heads_;
  };
  const uint32_t request = head_bit(Direction::Request), response = head_bit(Direction::Response);
  std::vector<std::string> log;
  Chain only_counting;
  only_counting.add(std::make_shared<Counter>(0));
  EXPECT_FALSE(only_counting.sees_head(Direction::Request));
  EXPECT_FALSE(only_counting.sees_head(Direction::Response));
  Chain reading_in_log;  // a log plugin that serializes headers
  reading_in_log.add(std::make_shared<Counter>(0));
  reading_in_log.add(std::make_shared<Counter>(kBothHeads));
  EXPECT_TRUE(reading_in_log.sees_head(Direction::Request));
  EXPECT_TRUE(reading_in_log.sees_head(Direction::Response));
  Chain with_access;  // a handler that says nothing uses both
  with_access.add(std::make_shared<Counter>(0));
  with_access.add(std::make_shared<Probe>("p", 5, &log, phase_bit(Phase::Access), BodyMode::None, BodyMode::None));
  EXPECT_TRUE(with_access.sees_head(Direction::Request));
  EXPECT_TRUE(with_access.sees_head(Direction::Response));
  Chain counting_in_access;  // rate-limiting by consumer: only its answer's head
  counting_in_access.add(std::make_shared<Counter>(response, phase_bit(Phase::Access) | phase_bit(Phase::HeaderFilter)));
  EXPECT_FALSE(counting_in_access.sees_head(Direction::Request));
  EXPECT_TRUE(counting_in_access.sees_head(Direction::Response));
  Chain filtering;  // header_filter works on the response head's map, whatever it says
  filtering.add(std::make_shared<Counter>(request, phase_bit(Phase::HeaderFilter)));
  EXPECT_TRUE(filtering.sees_head(Direction::Request));
  EXPECT_TRUE(filtering.sees_head(Direction::Response));
  Chain idle;  // no phase, no body: left out
  idle.add(std::make_shared<Counter>(kBothHeads, 0));
  EXPECT_TRUE(idle.empty());
  EXPECT_FALSE(idle.sees_head(Direction::Request));
}

TEST(Chain, AHeadHandlersOnlyAddToIsNotSeenUnlessAnotherReadsIt) {
  struct Adder final : Handler {
    Adder(uint32_t heads, uint32_t phases, BodyMode body = BodyMode::None)
        : Handler("filter", "adder", kFilterPriority, phases, body, BodyMode::None), heads_(heads) {}
    uint32_t heads() const override { return heads_; }
    bool attach(Exchange&, Slot&) const override { return true; }
    Verdict on_phase(Phase, Exchange&, Slot&) const override { return Verdict::Continue; }
    Verdict on_body(Direction, Exchange&, Slot&, std::string&, bool) const override { return Verdict::Continue; }
    Verdict on_trailers(Direction, Exchange&, Slot&) const override { return Verdict::Continue; }
    void on_log(Exchange&, Slot&) const override {}
    void detach(Exchange&, Slot&) const override {}
    std::string failure(const Slot&) const override { return {}; }

   private:
    uint32_t heads_;
  };
  const uint32_t adds = adds_bit(Direction::Request) | adds_bit(Direction::Response);
  const uint32_t both_phases = phase_bit(Phase::Access) | phase_bit(Phase::HeaderFilter);
  Chain adding;  // header_filter too: adding to the response head is all it does
  adding.add(std::make_shared<Adder>(adds, both_phases));
  for (Direction d : {Direction::Request, Direction::Response}) {
    EXPECT_FALSE(adding.sees_head(d));
    EXPECT_TRUE(adding.only_adds(d));
  }
  Chain with_reader;  // a reader of the request head: that map is filled, the other stays adds-only
  with_reader.add(std::make_shared<Adder>(adds, both_phases));
  with_reader.add(std::make_shared<Adder>(head_bit(Direction::Request), phase_bit(Phase::Access)));
  EXPECT_TRUE(with_reader.sees_head(Direction::Request));
  EXPECT_FALSE(with_reader.only_adds(Direction::Request));
  EXPECT_TRUE(with_reader.only_adds(Direction::Response));
  Chain filtering;  // header_filter of a handler that says nothing of adds-only: the full head
  filtering.add(std::make_shared<Adder>(adds, both_phases));
  filtering.add(std::make_shared<Adder>(0, phase_bit(Phase::HeaderFilter)));
  EXPECT_TRUE(filtering.sees_head(Direction::Response));
  EXPECT_FALSE(filtering.only_adds(Direction::Response));
  EXPECT_TRUE(filtering.only_adds(Direction::Request));
  Chain body;  // a body through the chain is framed from the maps: both heads, whole
  body.add(std::make_shared<Adder>(adds, both_phases, BodyMode::Stream));
  for (Direction d : {Direction::Request, Direction::Response}) {
    EXPECT_TRUE(body.sees_head(d));
    EXPECT_FALSE(body.only_adds(d));
  }
}

TEST_F(Pipeline, AHandlerThatCannotAttachFailsTheRequest) {
  auto a = add("a", 20);
  a->fail_attach = true;
  begin();
  EXPECT_EQ(r.request_head(), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::Failed);
  r.finish();
  EXPECT_EQ(a->detached, 0);
}

TEST_F(Pipeline, StreamedBodiesPassEachHandlerInOrder) {
  auto a = add("a", 20);
  add("b", 10, ~0u, BodyMode::None, BodyMode::None);
  auto c = add("c", 5);
  a->upper_case_bodies();
  begin();
  ASSERT_TRUE(r.start_body(Direction::Request));
  ASSERT_EQ(r.feed(Direction::Request, "ab", false), Step::Go);
  ASSERT_EQ(r.feed(Direction::Request, "cd", true), Step::Go);
  BodyFlow& f = r.flow(Direction::Request);
  EXPECT_EQ(f.out, "ABCD");
  EXPECT_TRUE(f.eos_out);
  // b takes no body; c sees what a let through.
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:body:request=ab", "c:body:request=AB", "a:body:request=cd$",
                                               "c:body:request=CD$"}));
  (void)c;
}

TEST_F(Pipeline, AStreamingHandlerHoldsPiecesUntilItLetsThemGo) {
  auto a = add("a", 20);
  begin();
  ASSERT_TRUE(r.start_body(Direction::Response));
  a->answer("body:response", Verdict::Pause);  // keep buffering
  ASSERT_EQ(r.feed(Direction::Response, "ab", false), Step::Paused);
  EXPECT_EQ(r.flow(Direction::Response).out, "");
  ASSERT_EQ(r.feed(Direction::Response, "cd", true), Step::Go);
  EXPECT_EQ(r.flow(Direction::Response).out, "abcd");
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:body:response=ab", "a:body:response=abcd$"}));
}

TEST_F(Pipeline, PausesAtTheEndOfEachBodyAndResumes) {
  for (Direction d : {Direction::Request, Direction::Response}) {
    log.clear();
    chain = Chain();
    auto a = add("a", 20);
    add("b", 10);
    begin();
    const std::string what = d == Direction::Request ? "body:request" : "body:response";
    ASSERT_TRUE(r.start_body(d));
    a->answer(what, Verdict::Pause);
    ASSERT_EQ(r.feed(d, "xyz", true), Step::Paused);
    EXPECT_TRUE(r.body_paused(d));
    EXPECT_FALSE(r.flow(d).eos_out);
    a->handle.resume(d);
    ASSERT_EQ(r.resume_body(d), Step::Go);
    EXPECT_FALSE(r.body_paused(d));
    EXPECT_EQ(r.flow(d).out, "xyz");
    EXPECT_TRUE(r.flow(d).eos_out);
    EXPECT_EQ(calls(), (std::vector<std::string>{"a:" + what + "=xyz$", "b:" + what + "=xyz$"}));
  }
}

TEST_F(Pipeline, BuffersAWholeBodyInEachDirection) {
  for (Direction d : {Direction::Request, Direction::Response}) {
    log.clear();
    chain = Chain();
    add("whole", 20, ~0u, BodyMode::Buffer, BodyMode::Buffer);
    add("stream", 10);
    begin();
    const std::string what = d == Direction::Request ? "body:request" : "body:response";
    ASSERT_TRUE(r.start_body(d));
    EXPECT_EQ(r.feed(d, "ab", false), Step::Paused);
    EXPECT_EQ(r.feed(d, "cd", false), Step::Paused);
    EXPECT_EQ(r.flow(d).out, "");
    EXPECT_EQ(r.feed(d, "ef", true), Step::Go);
    EXPECT_EQ(r.flow(d).out, "abcdef");
    EXPECT_EQ(calls(), (std::vector<std::string>{"whole:" + what + "=abcdef$", "stream:" + what + "=abcdef$"}));
  }
}

TEST_F(Pipeline, HoldingMoreThanTheLimitEndsTheRequest) {
  add("whole", 20, ~0u, BodyMode::Buffer, BodyMode::None);
  begin();
  ASSERT_TRUE(r.start_body(Direction::Request));
  EXPECT_FALSE(r.start_body(Direction::Response));  // nobody takes it
  EXPECT_EQ(r.feed(Direction::Request, std::string(kLimit, 'a'), false), Step::Paused);
  EXPECT_EQ(r.feed(Direction::Request, "b", false), Step::Ended);
  EXPECT_EQ(r.ending(), Ending::TooLarge);
}

TEST_F(Pipeline, TrailersFollowTheLastPieceAndCanBePausedOn) {
  auto a = add("a", 20);
  auto b = add("b", 10);
  begin();
  ASSERT_TRUE(r.start_body(Direction::Response));
  a->answer("body:response", Verdict::Pause);  // a holds "tail" ...
  b->answer("trailers:response", Verdict::Pause);
  ASSERT_EQ(r.feed_with_trailers(Direction::Response, "tail", "grpc-status: 0\nbad line\n"), Step::Paused);
  // ... and passes it on once it has seen the trailers; b then pauses in its trailers.
  ASSERT_NE(x.response_trailers.find("grpc-status"), nullptr);
  EXPECT_EQ(x.response_trailers.size(), 1u);
  EXPECT_TRUE(r.body_paused(Direction::Response));
  EXPECT_FALSE(r.flow(Direction::Response).eos_out);
  ASSERT_EQ(r.resume_body(Direction::Response), Step::Go);
  EXPECT_EQ(r.flow(Direction::Response).out, "tail");
  EXPECT_TRUE(r.flow(Direction::Response).eos_out);
  EXPECT_TRUE(r.flow(Direction::Response).has_trailers);
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:body:response=tail", "a:trailers:response", "b:body:response=tail",
                                               "b:trailers:response"}));
}

TEST_F(Pipeline, TheResponsePhaseGetsTheWholeBodyBeforeHeaderFilter) {
  auto a = add("a", 20, phase_bit(Phase::Response) | phase_bit(Phase::HeaderFilter), BodyMode::None, BodyMode::None);
  auto b = add("b", 10, phase_bit(Phase::HeaderFilter));
  a->upper_case_bodies();
  begin();
  x.response_has_body = true;
  ASSERT_EQ(r.response_head(), Step::Go);
  EXPECT_TRUE(calls().empty());  // waits for the body
  ASSERT_TRUE(r.start_body(Direction::Response));
  EXPECT_EQ(r.feed(Direction::Response, "ab", false), Step::Paused);
  EXPECT_EQ(r.flow(Direction::Response).out, "");
  ASSERT_EQ(r.feed(Direction::Response, "cd", true), Step::Go);
  EXPECT_EQ(r.flow(Direction::Response).out, "ABCD");  // a changed the whole body
  EXPECT_TRUE(r.flow(Direction::Response).eos_out);
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:response=abcd", "a:header_filter", "b:header_filter",
                                               "b:body:response=ABCD$"}));
}

TEST_F(Pipeline, PausesAndResumesInTheResponsePhase) {
  auto a = add("a", 20, phase_bit(Phase::Response) | phase_bit(Phase::HeaderFilter), BodyMode::None, BodyMode::None);
  begin();
  x.response_has_body = true;
  ASSERT_EQ(r.response_head(), Step::Go);
  ASSERT_TRUE(r.start_body(Direction::Response));
  a->answer("response", Verdict::Pause);
  ASSERT_EQ(r.feed(Direction::Response, "body", true), Step::Paused);
  EXPECT_TRUE(r.body_paused(Direction::Response));
  EXPECT_FALSE(r.head_paused());  // to the session it is the end of the body that waits
  EXPECT_TRUE(r.flow(Direction::Response).eos_in);
  a->handle.resume(Direction::Response);
  ASSERT_EQ(r.resume_body(Direction::Response), Step::Go);
  EXPECT_FALSE(r.body_paused(Direction::Response));
  EXPECT_EQ(r.flow(Direction::Response).out, "body");
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:response=body", "a:header_filter"}));

  // Without a body the Response phase runs with the head, and a pause
  // there is a head pause.
  log.clear();
  r.finish();
  begin();
  x.response_has_body = false;
  a->answer("response", Verdict::Pause);
  ASSERT_EQ(r.response_head(), Step::Paused);
  EXPECT_EQ(r.paused_side(), Direction::Response);
  ASSERT_EQ(r.resume_head(), Step::Go);
  EXPECT_EQ(calls(), (std::vector<std::string>{"a:response", "a:header_filter"}));
}

TEST_F(Pipeline, AResumeHandleOfAFinishedRequestIsIgnored) {
  auto a = add("a", 20);
  begin();
  a->answer("access", Verdict::Pause);
  ASSERT_EQ(r.request_head(), Step::Paused);
  ResumeHandle old = a->handle;
  r.finish();
  begin();  // the session's next request
  EXPECT_FALSE(old.current());
  old.resume(Direction::Request);
  EXPECT_EQ(owner.wakeups, 0);
  EXPECT_FALSE(x.resume_request);
  ASSERT_EQ(r.request_head(), Step::Go);
  EXPECT_TRUE(a->handle.current());  // taken again on this request
  a->handle.resume(Direction::Request);
  EXPECT_EQ(owner.wakeups, 1);
}

}  // namespace

namespace {

TEST(Properties, ReadTheExchangeAsHandlersLeftIt) {
  Exchange x;
  x.request_headers.add(":method", "GET");
  x.request_headers.add(":path", "/a/b?x=1&y=2");
  x.request_headers.add(":authority", "example.test");
  x.request_headers.add(":scheme", "http");
  x.request_headers.add("X-Id", "42");
  x.protocol = "HTTP/1.1";
  x.client_ip = "10.0.0.1";
  x.client_port = 5555;
  x.route_name = "r1";
  x.service_name = "s1";
  std::string v;
  EXPECT_TRUE(get_property(x, "request.path", &v));
  EXPECT_EQ(v, "/a/b?x=1&y=2");
  EXPECT_TRUE(get_property(x, "request.url_path", &v));
  EXPECT_EQ(v, "/a/b");
  EXPECT_TRUE(get_property(x, "request.query", &v));
  EXPECT_EQ(v, "x=1&y=2");
  EXPECT_TRUE(get_property(x, "request.host", &v));
  EXPECT_EQ(v, "example.test");
  EXPECT_TRUE(get_property(x, "request.headers.x-id", &v));
  EXPECT_EQ(v, "42");
  EXPECT_FALSE(get_property(x, "request.headers.absent", &v));
  EXPECT_TRUE(get_property(x, "source.address", &v));
  EXPECT_EQ(v, "10.0.0.1:5555");
  EXPECT_TRUE(get_property(x, "source.port", &v));
  ASSERT_EQ(v.size(), 8u);
  uint64_t port = 0;
  memcpy(&port, v.data(), 8);
  EXPECT_EQ(port, 5555u);
  EXPECT_TRUE(get_property(x, "kong.route_name", &v));
  EXPECT_EQ(v, "r1");
  EXPECT_TRUE(get_property(x, "cluster_name", &v));
  EXPECT_EQ(v, "s1");
  // No response yet.
  EXPECT_FALSE(get_property(x, "response.code", &v));
  x.response_phase = true;
  x.response_headers.add(":status", "404");
  ASSERT_TRUE(get_property(x, "response.code", &v));
  uint64_t code = 0;
  memcpy(&code, v.data(), 8);
  EXPECT_EQ(code, 404u);
  // A handler's edit is what the next one reads.
  x.request_headers.replace(":path", "/rewritten");
  EXPECT_TRUE(get_property(x, "request.path", &v));
  EXPECT_EQ(v, "/rewritten");
}

TEST(Properties, HandlersShareTheirOwnButCannotOverwriteTheHosts) {
  Exchange x;
  EXPECT_TRUE(property_writable("my.counter"));
  EXPECT_FALSE(property_writable("request.path"));
  EXPECT_FALSE(property_writable("route_name"));
  EXPECT_FALSE(property_writable("plugin_name"));
  EXPECT_FALSE(property_writable(""));
  x.properties["my.counter"] = "7";
  std::string v;
  EXPECT_TRUE(get_property(x, "my.counter", &v));
  EXPECT_EQ(v, "7");
  EXPECT_FALSE(get_property(x, "my.other", &v));
}

}  // namespace

namespace {

// A handler that keeps its slot's state across requests (or not): each
// access counts the requests it saw in the state it finds or makes.
class Keeper final : public Handler {
 public:
  explicit Keeper(bool keeps)
      : Handler("plugin", "keeper", 10, phase_bit(Phase::Access), BodyMode::None, BodyMode::None), keeps_(keeps) {}
  bool attach(Exchange&, Slot&) const override { return true; }
  Verdict on_phase(Phase, Exchange&, Slot& s) const override {
    if (!s.state) s.state = std::make_shared<int>(0);
    last_seen = ++*static_cast<int*>(s.state.get());
    return Verdict::Continue;
  }
  Verdict on_body(Direction, Exchange&, Slot&, std::string&, bool) const override { return Verdict::Continue; }
  Verdict on_trailers(Direction, Exchange&, Slot&) const override { return Verdict::Continue; }
  void on_log(Exchange&, Slot&) const override {}
  void detach(Exchange&, Slot&) const override {}
  bool keeps_state() const override { return keeps_; }
  std::string failure(const Slot&) const override { return {}; }
  mutable int last_seen = 0;

 private:
  bool keeps_;
};

void one_request(Runner& r, const Chain& chain, Exchange& x) {
  x.serial = next_exchange_serial();
  r.begin(&chain, &x, kLimit);
  ASSERT_EQ(r.request_head(), Step::Go);
  r.finish();
}

}  // namespace

TEST(SlotState, AKeepingHandlerFindsItsStateOnTheNextRequestOthersStartAfresh) {
  Exchange x;
  Runner r;
  auto keeper = std::make_shared<Keeper>(true);
  auto other = std::make_shared<Keeper>(true);  // same type, another handler
  auto plain = std::make_shared<Keeper>(false);
  Chain with_keeper, with_other, with_plain;
  with_keeper.add(keeper);
  with_other.add(other);
  with_plain.add(plain);
  one_request(r, with_keeper, x);
  one_request(r, with_keeper, x);
  EXPECT_EQ(keeper->last_seen, 2);  // the same state, kept
  one_request(r, with_other, x);
  EXPECT_EQ(other->last_seen, 1);  // the slot's state was keeper's: dropped
  one_request(r, with_keeper, x);
  EXPECT_EQ(keeper->last_seen, 1);
  one_request(r, with_plain, x);
  one_request(r, with_plain, x);
  EXPECT_EQ(plain->last_seen, 1);  // reset after each request
  EXPECT_NE(keeper->uid(), other->uid());
}

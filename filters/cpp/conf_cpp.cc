// The conformance filter in C++ (sdk/proxy_wasm.hpp): does exactly what
// filters/CONFORMANCE.md says, selected by the request header x-test.
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy_wasm.hpp"

namespace {

std::string toString(int64_t n) {
  char buf[24];
  return pw_itoa(n, buf);
}

class Root : public pw::RootContext {
 public:
  using RootContext::RootContext;

  bool onConfigure(size_t) override {
    tag = configuration();
    if (tag.empty()) tag = "-";
    pw::defineMetric(PW_METRIC_COUNTER, "requests_total", &requests_total);
    pw::defineMetric(PW_METRIC_GAUGE, "gauge", &gauge);
    pw::defineMetric(PW_METRIC_HISTOGRAM, "histogram", &histogram);
    pw::registerSharedQueue("conformance", &queue);
    if (tag.compare(0, 4, "tick") == 0) pw::setTickPeriod(100);
    return true;
  }

  void onTick() override { pw::sharedCounterAdd("ticks", 1); }

  void onQueueReady(uint32_t id) override {
    std::string item;
    while (pw::dequeueSharedQueue(id, &item) == PW_OK) {
      pw::sharedCounterAdd("dequeued", 1);
      pw::setSharedData("last-dequeued", item);
    }
  }

  std::string tag = "-";
  uint32_t requests_total = 0, gauge = 0, histogram = 0, queue = 0;
};

class Http : public pw::HttpContext {
 public:
  Http(uint32_t id, Root* root) : HttpContext(id, root), root_(*root) {}

  pw::Action onRequestHeaders(uint32_t, bool) override {
    const std::string& tag = root_.tag;
    pw::addHeader(PW_REQUEST_HEADERS, "x-chain", tag);
    pw::incrementMetric(root_.requests_total, 1);
    test_ = pw::getHeader(PW_REQUEST_HEADERS, "x-test").value_or("");

    if (test_ == "headers") {
      pw::addHeader(PW_REQUEST_HEADERS, "x-added", "yes");
      pw::replaceHeader(PW_REQUEST_HEADERS, "x-replace-me", "replaced");
      pw::removeHeader(PW_REQUEST_HEADERS, "x-remove-me");
      read_me_ = pw::getHeader(PW_REQUEST_HEADERS, "x-read-me").value_or("none");
    } else if (test_ == "local-req") {
      pw::sendLocalResponse(403, "local:" + tag, {{"x-local", tag}});
      return PW_PAUSE;
    } else if (test_ == "http-call" || test_ == "http-call2") {
      auto target = pw::getHeader(PW_REQUEST_HEADERS, "x-call-target");
      if (test_ == "http-call") {
        dispatch(target, "/callout", 0);
      } else {
        dispatch(target, "/callout/1", 0);
        dispatch(target, "/callout/2", 1);
      }
      if (pending_ > 0) return PW_PAUSE;
      addCallHeaders();  // nothing could be dispatched
    } else if (test_ == "shared") {
      int64_t v = 0;
      pw::sharedCounterAdd("counter", 1, &v);
      counter_ = toString(v);
    } else if (test_ == "queue") {
      uint32_t q = 0;
      auto path = pw::getHeader(PW_REQUEST_HEADERS, ":path");
      if (pw::resolveSharedQueue("", "conformance", &q) == PW_OK && path) pw::enqueueSharedQueue(q, *path);
    } else if (test_ == "metrics") {
      pw::recordMetric(root_.gauge, 42);
      pw::recordMetric(root_.histogram, 7);
    } else if (test_ == "properties") {
      pw::setProperty({"wasmgate", "note"}, "note-" + tag);
    } else if (test_ == "log") {
      static const char* const names[] = {"trace", "debug", "info", "warn", "error", "critical"};
      for (int level = PW_TRACE; level <= PW_CRITICAL; ++level) {
        pw::log(static_cast<pw::LogLevel>(level), std::string("conformance ") + names[level] + " " + tag);
      }
      pw::addHeader(PW_REQUEST_HEADERS, "x-log-level", toString(pw::logLevel()));
    } else if (test_ == "trap") {
      std::abort();
    } else if (test_ == "loop") {
      for (volatile unsigned i = 0;; i = i + 1) {
      }
    } else if (test_ == "hog") {
      void* volatile last = nullptr;
      for (;;) {
        auto** block = static_cast<void**>(std::malloc(1 << 20));
        if (block == nullptr) __builtin_trap();
        std::memset(block, 1, 1 << 20);
        block[0] = last;  // keep every block reachable
        last = block;
      }
    }
    return PW_CONTINUE;
  }

  pw::Action onRequestBody(size_t size, bool eos) override {
    return test_ == "req-body" ? wrapBody(PW_HTTP_REQUEST_BODY, size, eos) : PW_CONTINUE;
  }

  pw::Action onResponseBody(size_t size, bool eos) override {
    return test_ == "resp-body" ? wrapBody(PW_HTTP_RESPONSE_BODY, size, eos) : PW_CONTINUE;
  }

  pw::Action onResponseHeaders(uint32_t, bool) override {
    const std::string& tag = root_.tag;
    pw::addHeader(PW_RESPONSE_HEADERS, "x-chain-resp", tag);
    if (test_ == "headers") {
      pw::addHeader(PW_RESPONSE_HEADERS, "x-read-was", read_me_);
      pw::replaceHeader(PW_RESPONSE_HEADERS, "x-resp-replace", "replaced");
      pw::removeHeader(PW_RESPONSE_HEADERS, "x-resp-remove");
    } else if (test_ == "local-resp") {
      pw::sendLocalResponse(451, "late:" + tag, {{"x-local-late", tag}});
      return PW_PAUSE;
    } else if (test_ == "shared") {
      pw::addHeader(PW_RESPONSE_HEADERS, "x-counter", counter_);
    } else if (test_ == "queue-stat") {
      addShared("x-dequeued", "dequeued", "0");
      addShared("x-last-dequeued", "last-dequeued", "none");
    } else if (test_ == "tick-stat") {
      addShared("x-ticks", "ticks", "0");
    } else if (test_ == "properties") {
      pw::addHeader(PW_RESPONSE_HEADERS, "x-prop-path", pw::getProperty({"request", "path"}).value_or("none"));
      pw::addHeader(PW_RESPONSE_HEADERS, "x-prop-method", pw::getProperty({"request", "method"}).value_or("none"));
      pw::addHeader(PW_RESPONSE_HEADERS, "x-prop-plugin-name", pw::getProperty({"plugin_name"}).value_or("none"));
      pw::addHeader(PW_RESPONSE_HEADERS, "x-prop-source", pw::getProperty({"source", "address"}).value_or("none"));
      pw::addHeader(PW_RESPONSE_HEADERS, "x-prop-note", pw::getProperty({"wasmgate", "note"}).value_or("none"));
    }
    return PW_CONTINUE;
  }

  void onHttpCallResponse(uint32_t token, uint32_t num_headers, size_t body_size, uint32_t) override {
    int i = token == tokens_[0] && status_[0].empty() ? 0 : 1;
    if (num_headers == 0) {
      status_[i] = "failed";
    } else {
      status_[i] = pw::getHeader(PW_HTTP_CALL_RESPONSE_HEADERS, ":status").value_or("none");
      if (test_ == "http-call") body_ = pw::getBuffer(PW_HTTP_CALL_RESPONSE_BODY, 0, body_size).value_or("");
    }
    if (--pending_ > 0) return;
    addCallHeaders();
    pw::continueRequest();
  }

 private:
  void dispatch(const std::optional<std::string>& target, std::string_view path, int i) {
    if (target && httpCall(*target, {{":method", "GET"}, {":path", path}, {":authority", "callout.local"}}, {}, {},
                           2000, &tokens_[i]) == PW_OK) {
      ++pending_;
    } else {
      status_[i] = "failed";
    }
  }

  void addCallHeaders() {
    if (test_ == "http-call") {
      pw::addHeader(PW_REQUEST_HEADERS, "x-call-status", status_[0]);
      if (status_[0] != "failed") pw::addHeader(PW_REQUEST_HEADERS, "x-call-body", body_);
    } else {
      pw::addHeader(PW_REQUEST_HEADERS, "x-call-status-1", status_[0]);
      pw::addHeader(PW_REQUEST_HEADERS, "x-call-status-2", status_[1]);
    }
  }

  pw::Action wrapBody(pw::BufferType type, size_t size, bool eos) {
    if (!eos) return PW_STOP_ITERATION_AND_BUFFER;
    std::string body = pw::getBuffer(type, 0, size).value_or("");
    std::string out = root_.tag + "|" + body + "|" + root_.tag;
    pw::setBuffer(type, 0, size > body.size() ? size : body.size(), out);
    return PW_CONTINUE;
  }

  static void addShared(std::string_view header, std::string_view key, std::string_view missing) {
    std::string v;
    if (pw::getSharedData(key, &v) != PW_OK) v = missing;
    pw::addHeader(PW_RESPONSE_HEADERS, header, v);
  }

  Root& root_;
  std::string test_;
  std::string read_me_ = "none";
  std::string counter_ = "0";
  int pending_ = 0;
  uint32_t tokens_[2] = {0, 0};
  std::string status_[2];
  std::string body_;
};

}  // namespace

PW_REGISTER(Root, Http)

// The Proxy-Wasm shared key-value store and queues (src/wasm/shared_state).
#include "wasm/shared_state.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace {

using wg::wasm::SharedData;
using wg::wasm::SharedQueues;

TEST(SharedData, CasIsCheckedAndMovesOnEveryWrite) {
  auto& d = SharedData::instance();
  std::string v;
  uint32_t cas = 0;
  EXPECT_FALSE(d.get("st-missing", &v, &cas));
  ASSERT_TRUE(d.set("st-k", "1", 0));  // cas 0: unconditional
  ASSERT_TRUE(d.get("st-k", &v, &cas));
  EXPECT_EQ(v, "1");
  EXPECT_NE(cas, 0u);
  EXPECT_TRUE(d.set("st-k", "2", cas));
  EXPECT_FALSE(d.set("st-k", "3", cas));  // stale cas
  uint32_t cas2 = 0;
  ASSERT_TRUE(d.get("st-k", &v, &cas2));
  EXPECT_EQ(v, "2");
  EXPECT_NE(cas2, cas);
}

TEST(SharedData, ConcurrentCasIncrementsLoseNothing) {
  auto& d = SharedData::instance();
  ASSERT_TRUE(d.set("st-counter", "0", 0));
  auto work = [&d] {
    for (int i = 0; i < 500; ++i) {
      for (;;) {
        std::string v;
        uint32_t cas = 0;
        ASSERT_TRUE(d.get("st-counter", &v, &cas));
        if (d.set("st-counter", std::to_string(std::stoi(v) + 1), cas)) break;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  std::string v;
  uint32_t cas = 0;
  ASSERT_TRUE(d.get("st-counter", &v, &cas));
  EXPECT_EQ(v, "2000");
}

TEST(SharedQueues, RegisterResolveEnqueueDequeue) {
  auto& q = SharedQueues::instance();
  EXPECT_EQ(q.resolve("", "st-q"), 0u);
  uint32_t id = q.register_queue("", "st-q");
  ASSERT_NE(id, 0u);
  EXPECT_EQ(q.register_queue("", "st-q"), id);  // every worker registers the same queue
  EXPECT_EQ(q.resolve("", "st-q"), id);
  EXPECT_NE(q.register_queue("other-vm", "st-q"), id);  // vm ids separate queues
  const auto* counter = q.enqueued_counter(id);
  ASSERT_NE(counter, nullptr);
  uint64_t before = counter->load();
  std::string item;
  EXPECT_EQ(q.dequeue(id, &item), SharedQueues::Result::Empty);
  EXPECT_EQ(q.enqueue(id, "a"), SharedQueues::Result::Ok);
  EXPECT_EQ(q.enqueue(id, "b"), SharedQueues::Result::Ok);
  EXPECT_EQ(counter->load(), before + 2);
  EXPECT_EQ(q.enqueued(id), before + 2);
  ASSERT_EQ(q.dequeue(id, &item), SharedQueues::Result::Ok);
  EXPECT_EQ(item, "a");  // first in, first out
  ASSERT_EQ(q.dequeue(id, &item), SharedQueues::Result::Ok);
  EXPECT_EQ(item, "b");
  EXPECT_EQ(q.enqueue(9999, "x"), SharedQueues::Result::NotFound);
  EXPECT_EQ(q.dequeue(0, &item), SharedQueues::Result::NotFound);
  EXPECT_EQ(q.enqueued_counter(9999), nullptr);
}

TEST(SharedQueues, AQueueNobodyDrainsStopsGrowing) {
  auto& q = SharedQueues::instance();
  uint32_t id = q.register_queue("", "st-full");
  for (int i = 0; i < 10005; ++i) ASSERT_EQ(q.enqueue(id, std::to_string(i)), SharedQueues::Result::Ok);
  std::string item;
  ASSERT_EQ(q.dequeue(id, &item), SharedQueues::Result::Ok);
  EXPECT_EQ(item, "5");  // the oldest five made room
  int left = 1;
  while (q.dequeue(id, &item) == SharedQueues::Result::Ok) ++left;
  EXPECT_EQ(left, 10000);
}

}  // namespace

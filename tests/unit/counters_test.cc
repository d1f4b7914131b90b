#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "shared/counters.h"

using wg::shared::WindowCounters;

TEST(WindowCounters, CountsPerKeyAndWindow) {
  WindowCounters& c = WindowCounters::instance();
  EXPECT_EQ(c.add("test:a", 1, 1060, 1000), 1u);
  EXPECT_EQ(c.add("test:a", 2, 1060, 1001), 3u);
  EXPECT_EQ(c.add("test:b", 1, 1060, 1001), 1u);
  EXPECT_EQ(c.get("test:a", 1059), 3u);
  // The window ended: the count starts again.
  EXPECT_EQ(c.get("test:a", 1060), 0u);
  EXPECT_EQ(c.add("test:a", 1, 1120, 1060), 1u);
}

TEST(WindowCounters, WorkersShareOneCount) {
  WindowCounters& c = WindowCounters::instance();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.add("test:shared", 1, 2000000000, 1000000000);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.get("test:shared", 1000000000), 40000u);
}

TEST(WindowCounters, TakeBackUndoesAnAdd) {
  WindowCounters& c = WindowCounters::instance();
  EXPECT_EQ(c.add("test:back", 1, 5000, 4000), 1u);
  EXPECT_EQ(c.add("test:back", 1, 5000, 4000), 2u);
  c.take_back("test:back", 1, 6000, 4000);  // another window: nothing happens
  EXPECT_EQ(c.get("test:back", 4000), 2u);
  c.take_back("test:back", 1, 5000, 4000);
  EXPECT_EQ(c.get("test:back", 4000), 1u);
  c.take_back("test:back", 5, 5000, 4000);  // never below zero
  EXPECT_EQ(c.get("test:back", 4000), 0u);
  c.take_back("test:none", 1, 5000, 4000);  // absent: nothing happens
  EXPECT_EQ(c.get("test:none", 4000), 0u);
}

TEST(WindowCounters, AKeyKeepsItsEntryAcrossWindows) {
  WindowCounters& c = WindowCounters::instance();
  EXPECT_EQ(c.add("test:w", 3, 7060, 7000), 3u);
  // The next window (a month window ends after 30 days, so February's
  // entry is still live on March 1st): a window of its own.
  EXPECT_EQ(c.add("test:w", 1, 7120, 7059), 1u);
  EXPECT_EQ(c.add("test:w", 1, 7120, 7061), 2u);
  // Long after that window ended: the count starts again.
  EXPECT_EQ(c.get("test:w", 8000), 0u);
  EXPECT_EQ(c.add("test:w", 1, 8060, 8000), 1u);
}

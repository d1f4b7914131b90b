// proxy-cache: Kong's cache key parts (spec/03-plugins/31-proxy-cache/
// 05-cache_key_spec.lua's cases) and the memory store's TTL and byte bound.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "plugins/proxy_cache.h"
#include "shared/response_cache.h"

namespace pc = wg::plugins::proxy_cache;
using wg::plugins::Arg;
using wg::plugins::Args;
using wg::shared::CachedResponse;
using wg::shared::ResponseCache;

namespace {

std::string params(const Args& args, std::vector<std::string> vary = {}) {
  std::string out;
  pc::append_params(out, args, vary);
  return out;
}

std::string prefix(std::string_view consumer, std::string_view route) {
  std::string out;
  pc::append_prefix(out, consumer, route);
  return out;
}

std::shared_ptr<CachedResponse> response(size_t body_bytes) {
  auto r = std::make_shared<CachedResponse>();
  r->status = 200;
  r->body.assign(body_bytes, 'x');
  return r;
}

}  // namespace

TEST(ProxyCacheKey, Prefix) {
  EXPECT_EQ(prefix("c1", "r1"), "c1:r1");
  EXPECT_EQ(prefix("", "r1"), "r1");
  EXPECT_EQ(prefix("c1", ""), "default");  // a consumer alone is not a scope
  EXPECT_EQ(prefix("", ""), "default");
}

TEST(ProxyCacheKey, RequestUriIsTheRequestLineUpToTheQuery) {
  std::string out;
  pc::append_request_uri(out, "GET", "/a/B?x=1", "HTTP/1.1", false);
  EXPECT_EQ(out, "GET /a/B");
  out.clear();
  pc::append_request_uri(out, "GET", "/a/B", "HTTP/1.1", false);
  EXPECT_EQ(out, "GET /a/B HTTP/1.1");
  out = "keep|";
  pc::append_request_uri(out, "GET", "/a/B", "HTTP/1.0", true);
  EXPECT_EQ(out, "keep|get /a/b http/1.0");
}

TEST(ProxyCacheKey, ParamsDefaultToAllSorted) {
  EXPECT_EQ(params({{"b", "2"}, {"a", "1"}}), "a=1:b=2");
  EXPECT_EQ(params({}), "");
  EXPECT_EQ(params({}, {"a"}), "");
  Arg flag{"f", "", true};
  EXPECT_EQ(params({flag, {"a", "1"}}), "a=1:f");
}

TEST(ProxyCacheKey, ParamsOnlyThoseVaried) {
  EXPECT_EQ(params({{"a", "1"}, {"b", "2"}}, {"a"}), "a=1");
  // Repeated names: values sorted and joined; absent names skipped; the
  // configured order is kept.
  EXPECT_EQ(params({{"a", "2"}, {"a", "1"}}, {"a"}), "a=1,2");
  EXPECT_EQ(params({{"a", "1"}, {"a", "2"}, {"b", "2"}}, {"a", "b", "c"}), "a=1,2:b=2");
  EXPECT_EQ(params({{"a", "1"}, {"b", "2"}}, {"b", "a"}), "b=2:a=1");
}

TEST(ProxyCacheKey, HeadersOnlyWhenVaried) {
  wg::http::HeaderMap h;
  h.add("A", "2");
  h.add("a", "1");
  h.add("B", "x");
  std::string out;
  pc::append_headers(out, h, {});
  EXPECT_EQ(out, "");
  pc::append_headers(out, h, {"a", "C", "b"});
  EXPECT_EQ(out, "a=1,2:b=x");  // named as configured, matched without case
}

TEST(ProxyCacheKey, DigestIsHexSha256) {
  EXPECT_EQ(pc::digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(pc::digest("").size(), 64u);
}

TEST(ResponseCache, StoresFetchesAndExpires) {
  ResponseCache c(1 << 20);
  EXPECT_EQ(c.fetch("k", 1000), nullptr);
  EXPECT_TRUE(c.store("k", response(10), 2000, 1000));
  auto r = c.fetch("k", 2999);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->body, std::string(10, 'x'));
  EXPECT_EQ(c.fetch("k", 3000), nullptr);  // its TTL ran out
  EXPECT_EQ(c.entries(), 0u);
  // Replacing keeps one entry; purge and flush remove.
  c.store("k", response(1), 1000, 0);
  c.store("k", response(2), 1000, 0);
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.fetch("k", 1)->body.size(), 2u);
  EXPECT_TRUE(c.purge("k", 1));
  EXPECT_FALSE(c.purge("k", 1));
  c.store("a", response(1), 1000, 0);
  c.flush();
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes_used(), 0u);
}

TEST(ResponseCache, BoundedInBytesEvictingTheLeastRecentlyUsed) {
  ResponseCache c(ResponseCache::kShards * 10000);  // 10000 bytes a shard
  EXPECT_EQ(c.max_entry_bytes(), 10000u);
  EXPECT_FALSE(c.store("huge", response(20000), 1000, 0));
  // Far more than fits: the store stays within its bound.
  for (int i = 0; i < 2000; ++i) c.store("k" + std::to_string(i), response(1000), 100000, 0);
  EXPECT_LE(c.bytes_used(), ResponseCache::kShards * 10000u);
  EXPECT_GT(c.entries(), 0u);
  EXPECT_LT(c.entries(), 2000u);
  // The newest entries are there, the oldest were evicted.
  EXPECT_NE(c.fetch("k1999", 1), nullptr);
  EXPECT_EQ(c.fetch("k0", 1), nullptr);
}

TEST(ResponseCache, RecentlyUsedEntriesSurviveEviction) {
  ResponseCache c(ResponseCache::kShards * 10000);
  // Keys of one shard: each holds 4 of these entries.
  std::vector<std::string> keys;
  const size_t shard0 = std::hash<std::string_view>{}("seed") % ResponseCache::kShards;
  for (int i = 0; keys.size() < 6; ++i) {
    std::string k = "s" + std::to_string(i);
    if (std::hash<std::string_view>{}(k) % ResponseCache::kShards == shard0) keys.push_back(k);
  }
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.store(keys[i], response(2000), 100000, 0));
  ASSERT_NE(c.fetch(keys[0], 1), nullptr);  // now the most recently used
  c.store(keys[4], response(2000), 100000, 1);
  c.store(keys[5], response(2000), 100000, 1);
  EXPECT_NE(c.fetch(keys[0], 2), nullptr);
  EXPECT_EQ(c.fetch(keys[1], 2), nullptr);
  EXPECT_NE(c.fetch(keys[5], 2), nullptr);
}

TEST(ResponseCache, ExpiredEntriesMakeRoomFirst) {
  ResponseCache c(ResponseCache::kShards * 10000);
  std::vector<std::string> keys;
  const size_t shard0 = std::hash<std::string_view>{}("seed") % ResponseCache::kShards;
  for (int i = 0; keys.size() < 5; ++i) {
    std::string k = "e" + std::to_string(i);
    if (std::hash<std::string_view>{}(k) % ResponseCache::kShards == shard0) keys.push_back(k);
  }
  c.store(keys[0], response(2000), 100000, 0);  // the oldest, long-lived
  c.store(keys[1], response(2000), 10, 0);      // expires soon
  c.store(keys[2], response(2000), 100000, 0);
  c.store(keys[3], response(2000), 100000, 0);
  c.store(keys[4], response(2000), 100000, 50);  // full: the expired one goes, not the oldest
  EXPECT_NE(c.fetch(keys[0], 51), nullptr);
  EXPECT_EQ(c.fetch(keys[1], 51), nullptr);
}

TEST(ResponseCache, WorkersShareOneStore) {
  ResponseCache& a = ResponseCache::named("test_dict");
  EXPECT_EQ(&a, &ResponseCache::named("test_dict"));
  EXPECT_NE(&a, &ResponseCache::named("test_other"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&a, t] {
      for (int i = 0; i < 500; ++i) {
        std::string k = "t" + std::to_string((t * 500 + i) % 700);
        a.store(k, response(100), 100000, 0);
        a.fetch(k, 1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(a.entries(), 700u);
}

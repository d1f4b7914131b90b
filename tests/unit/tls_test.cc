// Kong's listen syntax, the server_name extension reader and the sni
// lookup order.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/net.h"
#include "tls/sni.h"

namespace {

using wg::core::ListenSpec;
using wg::core::parse_listen_list;
using wg::tls::parse_server_name;
using wg::tls::SniTable;

TEST(ListenList, EntriesAndFlags) {
  std::vector<ListenSpec> l;
  std::string err;
  ASSERT_TRUE(parse_listen_list("127.0.0.1:8000, 127.0.0.1:8443 ssl http2 reuseport backlog=16384", &l, &err)) << err;
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].address, "127.0.0.1:8000");
  EXPECT_FALSE(l[0].ssl);
  EXPECT_EQ(l[0].backlog, 4096);
  EXPECT_TRUE(l[1].ssl);
  EXPECT_EQ(l[1].backlog, 16384);
  EXPECT_EQ(l[1].ignored, (std::vector<std::string>{"http2", "reuseport"}));
  ASSERT_TRUE(parse_listen_list("[::1]:9000 ssl", &l, &err)) << err;
  EXPECT_EQ(l.size(), 1u);
}

TEST(ListenList, Refusals) {
  std::vector<ListenSpec> l;
  std::string err;
  EXPECT_FALSE(parse_listen_list("127.0.0.1:8000 proxy_protocol", &l, &err));
  EXPECT_EQ(err, "flag 'proxy_protocol' is not supported yet");
  EXPECT_FALSE(parse_listen_list("127.0.0.1:8000 sssl", &l, &err));
  EXPECT_EQ(err, "flag 'sssl' is not supported");
  EXPECT_FALSE(parse_listen_list("127.0.0.1:8000,", &l, &err));
  EXPECT_EQ(err, "empty entry");
  EXPECT_FALSE(parse_listen_list("nowhere ssl", &l, &err));
  EXPECT_EQ(err, "invalid address 'nowhere'");
  EXPECT_FALSE(parse_listen_list("127.0.0.1:1 backlog=x", &l, &err));
}

std::string ext(const std::string& host, uint8_t type = 0) {
  std::string e;
  const size_t entry = 3 + host.size();
  e.push_back(static_cast<char>(entry >> 8));
  e.push_back(static_cast<char>(entry & 0xff));
  e.push_back(static_cast<char>(type));
  e.push_back(static_cast<char>(host.size() >> 8));
  e.push_back(static_cast<char>(host.size() & 0xff));
  return e + host;
}

TEST(ServerName, Extension) {
  std::string_view host;
  std::string e = ext("example.com");
  ASSERT_TRUE(parse_server_name(reinterpret_cast<const uint8_t*>(e.data()), e.size(), &host));
  EXPECT_EQ(host, "example.com");
  e = ext("example.com", 1);  // not a host_name entry
  EXPECT_FALSE(parse_server_name(reinterpret_cast<const uint8_t*>(e.data()), e.size(), &host));
  e = ext("example.com");
  e.pop_back();  // list length says more than there is
  EXPECT_FALSE(parse_server_name(reinterpret_cast<const uint8_t*>(e.data()), e.size(), &host));
  e = ext("");
  EXPECT_FALSE(parse_server_name(reinterpret_cast<const uint8_t*>(e.data()), e.size(), &host));
}

TEST(SniTable, KongOrder) {
  SniTable t;
  EXPECT_EQ(t.find("a.example.com"), -1);
  t.add("api.example.com", 0);
  t.add("*.example.com", 1);
  t.add("www.example.*", 2);
  EXPECT_EQ(t.find("api.example.com"), 0);
  EXPECT_EQ(t.find("API.EXAMPLE.COM"), 0);
  EXPECT_EQ(t.find("x.example.com"), 1);
  EXPECT_EQ(t.find("www.example.com"), 1);  // prefix wildcard before suffix wildcard
  EXPECT_EQ(t.find("www.example.org"), 2);
  EXPECT_EQ(t.find("example.com"), -1);     // "*.com" is not looked up: two labels only
  EXPECT_EQ(t.find("a.b.example.com"), -1); // the wildcard covers one label
  t.add("*", 3);
  EXPECT_EQ(t.find("example.com"), 3);
  EXPECT_EQ(t.find(""), -1);
  EXPECT_EQ(t.find(std::string(300, 'a')), -1);
}

}  // namespace

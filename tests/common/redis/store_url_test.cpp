// The --store URL: memory, redis://[user:password@]host[:port], redis-cluster://host:port,...
#include "common/redis/store_url.h"

#include <gtest/gtest.h>

namespace otaswarm {
namespace {

TEST(StoreUrl, Forms) {
  std::string err;
  auto m = parse_store_url("memory", err);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind, StoreUrl::Kind::memory);
  auto r = parse_store_url("redis://10.0.0.1:6380", err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, StoreUrl::Kind::redis);
  EXPECT_EQ(r->nodes[0].str(), "10.0.0.1:6380");
  auto d = parse_store_url("redis://redis-master", err);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->nodes[0].port, kDefaultRedisPort);
  auto c = parse_store_url("redis-cluster://a:7000,b:7001,[::1]:7002", err);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->nodes.size(), 3u);
  EXPECT_EQ(c->nodes[2].host, "::1");
  auto p = parse_store_url("redis://:p%40ss@h:7000", err);
  ASSERT_TRUE(p) << err;
  EXPECT_EQ(p->password, "p@ss");
  EXPECT_EQ(p->username, "");
  EXPECT_EQ(p->nodes[0].str(), "h:7000");
  auto u = parse_store_url("redis-cluster://ota:pw@a:1,b:2", err);
  ASSERT_TRUE(u) << err;
  EXPECT_EQ(u->username, "ota");
  EXPECT_EQ(u->password, "pw");
  EXPECT_EQ(u->nodes.size(), 2u);
  auto bare = parse_store_url("redis://secret@h", err);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->password, "secret");
  EXPECT_FALSE(parse_store_url("redis://:%zz@h:1", err));
  EXPECT_FALSE(parse_store_url("redis://a:1,b:2", err));
  EXPECT_FALSE(parse_store_url("redis://", err));
  EXPECT_FALSE(parse_store_url("redis://h:notaport", err));
  EXPECT_FALSE(parse_store_url("postgres://x", err));
  EXPECT_NE(err.find("postgres"), std::string::npos);
}

}  // namespace
}  // namespace otaswarm

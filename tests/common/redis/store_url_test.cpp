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

TEST(StoreUrl, StoreEngineOption) {
  std::string err;
  auto def = parse_store_url("redis://h:1", err);
  ASSERT_TRUE(def);
  EXPECT_EQ(def->engine, "streams");
  auto lua = parse_store_url("redis-cluster://a:1,b:2?store=lua", err);
  ASSERT_TRUE(lua) << err;
  EXPECT_EQ(lua->engine, "lua");
  EXPECT_EQ(lua->nodes.size(), 2u);
  auto q = parse_store_url("redis://:a?b@h:1?store=streams", err);  // a '?' in the password is not the option
  ASSERT_TRUE(q) << err;
  EXPECT_EQ(q->password, "a?b");
  EXPECT_EQ(q->engine, "streams");
  EXPECT_FALSE(parse_store_url("redis://h:1?store=other", err));
  EXPECT_NE(err.find("?store=lua"), std::string::npos);
}

}  // namespace
}  // namespace otaswarm

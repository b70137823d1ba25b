// The Redis client against real redis-server processes: pipelining, deadlines, reconnects,
// and cluster routing with live MOVED and ASK redirections.
#include "common/redis/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <thread>

#include "tracker/store/store_factory.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::redis {
namespace {

using namespace std::chrono_literals;
using otaswarm::testing::RedisServer;
using otaswarm::testing::shared_cluster;

constexpr auto kTimeout = 2000ms;
constexpr auto kUpLimit = 20s;

std::unique_ptr<Client> connect(const std::string& url) {
  std::string err;
  auto parsed = parse_store_url(url, err);
  EXPECT_TRUE(parsed) << err;
  return make_redis_client(*parsed);
}

bool wait_up(Client& c, std::chrono::seconds limit = kUpLimit) {
  auto end = std::chrono::steady_clock::now() + limit;
  std::string why;
  while (std::chrono::steady_clock::now() < end) {
    if (c.up(why)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return c.up(why);
}

TEST(RedisClient, PipelinesManyConcurrentRequestsOnOneConnection) {
  RedisServer server;
  auto c = connect("redis://" + server.address());
  ASSERT_TRUE(wait_up(*c));
  constexpr int kThreads = 4, kPerThread = 2500;
  std::atomic<int> ok{0}, done{0};
  std::promise<void> all;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i)
        c->execute({"INCR", "counter"}, "counter", kTimeout, [&](Result&& r) {
          if (r.ok() && r.reply.type == Reply::Type::integer) ok++;
          if (++done == kThreads * kPerThread) all.set_value();
        });
    });
  for (auto& t : ts) t.join();
  ASSERT_EQ(all.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_EQ(c->execute_sync({"GET", "counter"}, "counter", kTimeout).reply.as_int(), kThreads * kPerThread);
  std::string clients = server.command({"CLIENT", "LIST"});
  EXPECT_EQ(std::count(clients.begin(), clients.end(), '\n'), 2) << "one client connection plus this probe:\n"
                                                                  << clients;
  EXPECT_EQ(c->stats().in_flight, 0u);
  EXPECT_EQ(c->stats().reconnects, 0u);
}

TEST(RedisClient, BinarySafeValuesAndServerErrors) {
  RedisServer server;
  auto c = connect("redis://" + server.address());
  std::string bin("\0\r\n$*\xff", 6);
  ASSERT_TRUE(c->execute_sync({"SET", "b", bin}, "b", kTimeout).ok());
  EXPECT_EQ(c->execute_sync({"GET", "b"}, "b", kTimeout).reply.str, bin);
  auto r = c->execute_sync({"NOSUCHCOMMAND"}, "", kTimeout);
  EXPECT_EQ(r.err, Errc::server_error);
  EXPECT_TRUE(r.reply.is_error());
  EXPECT_TRUE(c->execute_sync({"PING"}, "", kTimeout).ok());  // the connection survives an error reply
}

TEST(RedisClient, DeadlineAnswersASlowRequestAndTheConnectionCarriesOn) {
  RedisServer server;
  auto c = connect("redis://" + server.address());
  ASSERT_TRUE(wait_up(*c));
  std::promise<Result> slow;
  // BLPOP on an empty list holds the connection for a second, like a slow server would.
  c->execute({"BLPOP", "empty-list", "1"}, "empty-list", 100ms, [&](Result&& r) { slow.set_value(std::move(r)); });
  auto f = slow.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get().err, Errc::timeout);
  // The late reply is matched to the timed-out request and dropped; the next one is in order.
  auto r = c->execute_sync({"ECHO", "after"}, "", kTimeout);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.reply.str, "after");
}

TEST(RedisClient, DownNodeFailsFastThenReconnectsByItself) {
  RedisServer server;
  auto c = connect("redis://" + server.address());
  ASSERT_TRUE(wait_up(*c));
  server.stop();
  std::string why;
  auto end = std::chrono::steady_clock::now() + kUpLimit;
  while (c->up(why) && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(c->up(why));
  EXPECT_NE(why.find(server.address()), std::string::npos) << why;
  auto r = c->execute_sync({"PING"}, "", kTimeout);
  EXPECT_EQ(r.err, Errc::unavailable) << r.message;
  server.start();
  ASSERT_TRUE(wait_up(*c));
  EXPECT_TRUE(c->execute_sync({"PING"}, "", kTimeout).ok());
  EXPECT_GT(c->stats().reconnects, 0u);
}

TEST(RedisClient, AuthenticatesWithThePasswordFromTheUrl) {
  RedisServer server;
  ASSERT_EQ(server.command({"CONFIG", "SET", "requirepass", "s3cret"}), "OK");
  auto good = connect("redis://:s3cret@" + server.address());
  ASSERT_TRUE(wait_up(*good));
  EXPECT_TRUE(good->execute_sync({"SET", "k", "v"}, "k", kTimeout).ok());
  auto bad = connect("redis://:wrong@" + server.address());
  auto r = bad->execute_sync({"GET", "k"}, "k", 500ms);
  EXPECT_FALSE(r.ok());
  std::string why;
  EXPECT_FALSE(bad->up(why));
}

TEST(RedisClient, UnreachableAddressNeverHangs) {
  uint16_t port;
  {
    RedisServer gone;
    port = gone.port();
  }
  auto c = connect("redis://127.0.0.1:" + std::to_string(port));
  auto r = c->execute_sync({"PING"}, "", 300ms);
  EXPECT_NE(r.err, Errc::ok);
  std::string why;
  EXPECT_FALSE(c->up(why));
}

TEST(RedisCluster, RoutesEveryKeyToItsMaster) {
  auto c = connect(shared_cluster().url());
  ASSERT_TRUE(wait_up(*c));
  for (int i = 0; i < 200; ++i) {
    std::string k = "key:" + std::to_string(i);
    ASSERT_TRUE(c->execute_sync({"SET", k, std::to_string(i)}, k, kTimeout).ok());
  }
  for (int i = 0; i < 200; ++i) {
    std::string k = "key:" + std::to_string(i);
    EXPECT_EQ(c->execute_sync({"GET", k}, k, kTimeout).reply.as_int(-1), i);
  }
  EXPECT_EQ(c->stats().redirects, 0u);
}

TEST(RedisCluster, FollowsMoved) {
  auto c = connect(shared_cluster().url());
  ASSERT_TRUE(wait_up(*c));
  // Route by one key and address another in a different slot: the node answers MOVED.
  ASSERT_NE(key_slot("a"), key_slot("b"));
  auto* owner_a = shared_cluster().master_for_key("a");
  auto* owner_b = shared_cluster().master_for_key("b");
  ASSERT_TRUE(owner_a && owner_b);
  ASSERT_NE(owner_a, owner_b) << "pick keys on different masters";
  auto r = c->execute_sync({"SET", "b", "moved"}, "a", kTimeout);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_GE(c->stats().redirects, 1u);
  EXPECT_EQ(owner_b->command({"GET", "b"}), "moved");
}

TEST(RedisCluster, FollowsAskDuringASlotMigration) {
  auto c = connect(shared_cluster().url());
  ASSERT_TRUE(wait_up(*c));
  const std::string key = "{migrating}k";
  uint16_t slot = key_slot(key);
  auto* src = shared_cluster().master_for_key(key);
  ASSERT_TRUE(src);
  testing::RedisServer* dst = nullptr;
  for (auto& n : shared_cluster().nodes())
    if (n.get() != src && n->command({"ROLE"}).rfind("master", 0) == 0) dst = n.get();
  ASSERT_TRUE(dst);
  std::string src_id = src->command({"CLUSTER", "MYID"}), dst_id = dst->command({"CLUSTER", "MYID"});
  ASSERT_EQ(dst->command({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", src_id}), "OK");
  ASSERT_EQ(src->command({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", dst_id}), "OK");
  // The key does not exist on the source, so the source answers ASK; the write lands on the target.
  auto before = c->stats().redirects;
  auto r = c->execute_sync({"SET", key, "asked"}, key, kTimeout);
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_GT(c->stats().redirects, before);
  // Finish the migration so the cluster stays consistent for the other tests.
  for (auto& n : shared_cluster().nodes())
    if (n->command({"ROLE"}).rfind("master", 0) == 0)
      n->command({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", dst_id});
  ASSERT_TRUE(shared_cluster().wait_ok(std::chrono::seconds(30)));
  auto g = c->execute_sync({"GET", key}, key, kTimeout);
  ASSERT_TRUE(g.ok()) << g.message;
  EXPECT_EQ(g.reply.str, "asked");
}

}  // namespace
}  // namespace otaswarm::redis

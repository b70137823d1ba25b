// The Redis store when Redis is down or saturated: every announce is answered (from the local
// fallback, with a shorter interval), healthy() says why, and it recovers by itself.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tracker/store/redis_store.h"
#include "tracker/store/store_factory.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::store {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 20s;  // bounds a broken test; the store answers within its deadline

std::unique_ptr<RedisStore> make(testing::RedisServer& server, size_t max_in_flight = 256) {
  std::string err;
  auto url = parse_store_url("redis://" + server.address(), err);
  RedisStoreOptions o;
  o.max_in_flight = max_in_flight;
  return std::make_unique<RedisStore>(make_redis_client(*url), o, SystemClock::instance(), nullptr);
}

AnnounceOp op(int n, uint32_t numwant = 50) {
  AnnounceOp a;
  a.info_hash.fill(0x42);
  a.peer.device = "d" + std::to_string(n);
  a.peer.peer_id.fill(static_cast<uint8_t>(n));
  a.peer.ip.b = {10, 0, 0, static_cast<uint8_t>(n)};
  a.peer.port = static_cast<uint16_t>(6000 + n);
  a.peer.left = 10;
  a.event = Event::started;
  a.policy.numwant = numwant;
  return a;
}

AnnounceResult announce(SwarmStore& s, const AnnounceOp& a) {
  auto p = std::make_shared<std::promise<AnnounceResult>>();
  s.announce(a, [p](Status st, AnnounceResult&& r) {
    EXPECT_EQ(st, Status::ok);
    p->set_value(std::move(r));
  });
  auto f = p->get_future();
  EXPECT_EQ(f.wait_for(kLimit), std::future_status::ready);
  return f.get();
}

template <typename Pred>
bool eventually(Pred pred) {
  auto end = std::chrono::steady_clock::now() + kLimit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

TEST(RedisStoreDegraded, AnswersFromTheFallbackWhileRedisIsDownAndRecovers) {
  testing::RedisServer server;
  auto s = make(server);
  std::string why;
  ASSERT_TRUE(eventually([&] { return s->healthy(why); })) << why;
  EXPECT_EQ(announce(*s, op(1)).interval_hint, 0u);

  server.stop();
  ASSERT_TRUE(eventually([&] { return !s->healthy(why); }));
  EXPECT_NE(why.find(server.address()), std::string::npos) << why;
  auto r = announce(*s, op(2));
  EXPECT_GT(r.interval_hint, 0u);
  ASSERT_EQ(r.peers.size(), 1u);  // peer 1, remembered by this replica's fallback
  EXPECT_EQ(r.peers[0].port, 6001);
  EXPECT_GE(r.leechers, 1u);
  EXPECT_TRUE(s->degraded());

  server.start();
  ASSERT_TRUE(eventually([&] { return s->healthy(why); })) << why;
  auto back = announce(*s, op(3));
  EXPECT_EQ(back.interval_hint, 0u);
  EXPECT_FALSE(s->degraded());
}

TEST(RedisStoreDegraded, ShedsBeyondTheInFlightLimitInsteadOfQueueing) {
  testing::RedisServer server;
  auto s = make(server, 1);
  std::string why;
  ASSERT_TRUE(eventually([&] { return s->healthy(why); })) << why;
  constexpr int kBurst = 50;
  std::atomic<int> done{0}, shed{0};
  std::promise<void> all;
  for (int i = 0; i < kBurst; ++i)
    s->announce(op(i), [&](Status st, AnnounceResult&& r) {
      EXPECT_EQ(st, Status::ok);
      if (r.interval_hint) shed++;
      if (++done == kBurst) all.set_value();
    });
  ASSERT_EQ(all.get_future().wait_for(kLimit), std::future_status::ready);
  EXPECT_GT(shed.load(), 0);
  EXPECT_LT(shed.load(), kBurst);
  EXPECT_FALSE(s->degraded()) << "shedding is not an outage";
}

}  // namespace
}  // namespace otaswarm::store

// The streams store across replicas (several stores on one real redis-server or the real
// cluster, as several tracker replicas would be): a peer announced to replica A is handed out
// by replica B, `stopped` removes it there, counts converge, a replica started after the
// streams were trimmed catches up from the snapshots, the shards spread over every master,
// and Redis down → answers from the local view, recovery without restart.
#include "tracker/store/redis_stream_store.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "common/redis/store_url.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::store {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 20s;  // bounds a broken test; convergence takes milliseconds

std::unique_ptr<RedisStreamStore> make(const std::string& url, RedisStreamStoreOptions o = {}) {
  std::string err;
  auto parsed = parse_store_url(url, err);
  EXPECT_TRUE(parsed) << err;
  return std::make_unique<RedisStreamStore>(make_redis_client(*parsed), o, SystemClock::instance(), nullptr);
}

InfoHash fresh_hash() {
  static std::atomic<uint32_t> n{0};
  InfoHash h{};
  auto r = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(r >> (8 * (i % 8))) ^ static_cast<uint8_t>(i * 31);
  h[19] = static_cast<uint8_t>(++n);
  return h;
}

AnnounceOp op(const InfoHash& h, int n, uint64_t left = 10, Event ev = Event::started, uint32_t numwant = 50) {
  AnnounceOp a;
  a.info_hash = h;
  a.peer.device = "dev-" + std::to_string(n);
  a.peer.peer_id.fill(static_cast<uint8_t>(n));
  a.peer.peer_id[0] = static_cast<uint8_t>(n >> 8);
  a.peer.ip.b = {10, static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  a.peer.port = static_cast<uint16_t>(6000 + n % 50000);
  a.peer.left = left;
  a.event = ev;
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

SwarmCounts scrape(SwarmStore& s, const InfoHash& h) {
  auto p = std::make_shared<std::promise<std::vector<SwarmCounts>>>();
  s.scrape({h}, [p](Status, std::vector<SwarmCounts>&& c) { p->set_value(std::move(c)); });
  auto f = p->get_future();
  EXPECT_EQ(f.wait_for(kLimit), std::future_status::ready);
  auto v = f.get();
  return v.empty() ? SwarmCounts{} : v[0];
}

template <typename Pred>
bool eventually(Pred pred) {
  auto end = std::chrono::steady_clock::now() + kLimit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

bool healthy(SwarmStore& s) {
  std::string why;
  return eventually([&] { return s.healthy(why); });
}

bool hands_out(SwarmStore& s, const InfoHash& h, int asker, uint16_t port) {
  auto r = announce(s, op(h, asker, 10, Event::none));
  for (const auto& p : r.peers)
    if (p.port == port) return true;
  return false;
}

class StreamReplicas : public ::testing::TestWithParam<std::string> {
 protected:
  std::string url() const {
    return GetParam() == "cluster" ? testing::shared_cluster().url()
                                   : "redis://" + testing::shared_server().address();
  }
};

TEST_P(StreamReplicas, PeerAnnouncedToAIsHandedOutByBAndStoppedRemovesIt) {
  auto a = make(url()), b = make(url());
  ASSERT_TRUE(healthy(*a) && healthy(*b));
  InfoHash h = fresh_hash();
  announce(*b, op(h, 900));  // B already serves the release: the peer must reach it by its stream
  announce(*a, op(h, 1, 0));
  EXPECT_TRUE(eventually([&] { return hands_out(*b, h, 2, 6001); })) << "replica B never handed out A's peer";
  EXPECT_TRUE(eventually([&] { return scrape(*b, h).seeders == 1; }));
  announce(*a, op(h, 1, 0, Event::stopped, 0));
  EXPECT_TRUE(eventually([&] { return !hands_out(*b, h, 2, 6001) && scrape(*b, h).seeders == 0; }))
      << "a stopped peer stayed on replica B";
}

TEST_P(StreamReplicas, CountsConvergeAcrossReplicas) {
  auto a = make(url()), b = make(url());
  ASSERT_TRUE(healthy(*a) && healthy(*b));
  InfoHash h = fresh_hash();
  auto p = op(h, 1, 100);
  p.peer.uploaded = 10;
  p.peer.downloaded = 100;
  announce(*a, p);
  // The device moves to replica B, completes there, and announces its completion twice.
  ASSERT_TRUE(eventually([&] { return scrape(*b, h).leechers == 1; }));
  p.event = Event::completed;
  p.peer.left = 0;
  p.peer.uploaded = 30;
  p.peer.downloaded = 400;
  announce(*b, p);
  announce(*b, p);
  announce(*a, op(h, 2, 5));
  for (auto* s : {a.get(), b.get()}) {
    EXPECT_TRUE(eventually([&] {
      auto c = scrape(*s, h);
      return c.seeders == 1 && c.leechers == 1 && c.completed == 1 && c.uploaded == 30 && c.downloaded == 400;
    })) << "counts did not converge on replica " << (s == a.get() ? "A" : "B");
  }
}

TEST_P(StreamReplicas, LateReplicaCatchesUpFromSnapshotsAfterTrimming) {
  RedisStreamStoreOptions o;
  o.min_stream_len = 8;     // trim early: a late replica must rely on the snapshots
  o.records_per_entry = 1;  // one entry per record: trimming by entries is trimming by records
  auto a = make(url(), o);
  ASSERT_TRUE(healthy(*a));
  InfoHash h = fresh_hash();
  // Every peer announces 4 times: the streams get more records than they keep (~1.5 × peers).
  constexpr int kPeers = 1000, kRounds = 4;
  std::atomic<int> left{kPeers * kRounds};
  std::promise<void> all;
  for (int round = 0; round < kRounds; ++round)
    for (int i = 0; i < kPeers; ++i)
      a->announce(op(h, i, 10, round ? Event::none : Event::started, 0), [&](Status, AnnounceResult&&) {
        if (--left == 0) all.set_value();
      });
  ASSERT_EQ(all.get_future().wait_for(kLimit), std::future_status::ready);
  // Wait until A wrote a snapshot of every shard and the streams were trimmed below what was written.
  auto& c = a->client();
  auto xinfo = [&](const std::string& key, const std::string& field) {
    auto r = c.execute_sync({"XINFO", "STREAM", key}, key, 2s);
    const auto& e = r.reply.elements;
    for (size_t i = 0; i + 1 < e.size(); i += 2)
      if (e[i].str == field) return e[i + 1].as_int(0);
    return int64_t{-1};
  };
  ASSERT_TRUE(eventually([&] {
    int snaps = 0, trimmed = 0;
    for (uint32_t k = 0; k < 12; ++k) {
      std::string p = a->shard_prefix(h, k);
      snaps += c.execute_sync({"EXISTS", p + "snap"}, p, 2s).reply.as_int(0) > 0;
      trimmed += xinfo(p + "s", "entries-added") > xinfo(p + "s", "length");
    }
    return snaps == 12 && trimmed > 0;
  })) << "no snapshots or no trimming";
  auto late = make(url(), o);
  ASSERT_TRUE(healthy(*late));
  EXPECT_TRUE(eventually([&] { return scrape(*late, h).leechers == kPeers; }))
      << "late replica sees " << scrape(*late, h).leechers << " of " << kPeers;
}

TEST_P(StreamReplicas, ReleaseRegisteredLaterIsServedWithItsPeersOnTheFirstAnnounce) {
  auto a = make(url());
  ASSERT_TRUE(healthy(*a));
  InfoHash h = fresh_hash();
  for (int i = 1; i <= 5; ++i) announce(*a, op(h, i, 0));
  // Wait until A's records are in Redis (A's reader has read its own five back).
  auto& c = a->client();
  ASSERT_TRUE(eventually([&] {
    int64_t n = 0;
    for (uint32_t k = 0; k < 12; ++k) {
      std::string p = a->shard_prefix(h, k);
      n += c.execute_sync({"XLEN", p + "s"}, p, 2s).reply.as_int(0);
    }
    return n == 5;
  }));
  auto b = make(url());
  ASSERT_TRUE(healthy(*b));
  // B has never seen this release: its first announce waits for the catch-up and sees all five.
  auto r = announce(*b, op(h, 100));
  EXPECT_EQ(r.peers.size(), 5u);
  EXPECT_EQ(r.seeders, 5u);
}

INSTANTIATE_TEST_SUITE_P(Redis, StreamReplicas, ::testing::Values("single", "cluster"),
                         [](const auto& info) { return info.param; });

TEST(StreamStoreShards, OneReleaseSpreadsOverEveryMaster) {
  auto& cluster = testing::shared_cluster();
  auto s = make(cluster.url());
  InfoHash h = fresh_hash();
  std::map<std::string, int> per_master;
  for (uint32_t k = 0; k < 12; ++k) {
    auto* m = cluster.master_for_key(s->shard_prefix(h, k) + "s");
    ASSERT_NE(m, nullptr);
    per_master[m->address()]++;
  }
  EXPECT_EQ(per_master.size(), 3u);
  for (auto& [addr, n] : per_master) EXPECT_EQ(n, 4) << addr;
}

TEST(StreamStoreDegraded, AnswersFromTheLocalViewWhileRedisIsDownAndRecovers) {
  testing::RedisServer server;
  auto s = make("redis://" + server.address());
  ASSERT_TRUE(healthy(*s));
  InfoHash h = fresh_hash();
  EXPECT_EQ(announce(*s, op(h, 1)).interval_hint, 0u);

  server.stop();
  std::string why;
  ASSERT_TRUE(eventually([&] { return !s->healthy(why); }));
  EXPECT_NE(why.find(server.address()), std::string::npos) << why;
  ASSERT_TRUE(eventually([&] { return announce(*s, op(h, 2)).interval_hint > 0; }));
  auto r = announce(*s, op(h, 3));
  EXPECT_GT(r.interval_hint, 0u);
  EXPECT_GE(r.peers.size(), 1u);  // peers this replica saw
  EXPECT_TRUE(s->degraded());
  // A release first seen during the outage is answered too (from the local view).
  InfoHash other = fresh_hash();
  other[0] ^= 0xff;
  EXPECT_GT(announce(*s, op(other, 4)).interval_hint, 0u);

  server.start();
  ASSERT_TRUE(healthy(*s));
  ASSERT_TRUE(eventually([&] { return announce(*s, op(h, 5)).interval_hint == 0; }));
  EXPECT_FALSE(s->degraded());
}

}  // namespace
}  // namespace otaswarm::store

namespace otaswarm::store {
namespace {

// A master killed: once its replica is promoted, records written through A reach B again.
TEST(StreamStoreFailover, ReplicasConvergeAgainAfterAMasterFailover) {
  testing::RedisCluster cluster;
  auto a = make(cluster.url()), b = make(cluster.url());
  ASSERT_TRUE(healthy(*a) && healthy(*b));
  InfoHash h = fresh_hash();
  announce(*b, op(h, 900));
  announce(*a, op(h, 1, 0));
  ASSERT_TRUE(eventually([&] { return hands_out(*b, h, 2, 6001); }));
  // Kill the master of the shard of device "dev-3".
  auto* victim = cluster.master_for_key(a->shard_prefix(h, a->shard_of("dev-3")) + "s");
  ASSERT_NE(victim, nullptr);
  victim->kill();
  ASSERT_TRUE(cluster.wait_ok(std::chrono::seconds(60)));
  announce(*a, op(h, 3, 0));
  EXPECT_TRUE(eventually([&] {
    announce(*a, op(h, 3, 0, Event::none));
    return hands_out(*b, h, 2, 6003);
  })) << "B never got the peer announced to A after the failover";
}

}  // namespace
}  // namespace otaswarm::store

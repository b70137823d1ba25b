// One conformance suite for every SwarmStore: the in-memory store and the Redis (streams) store
// on a single redis-server and on a real 6-node Redis Cluster (started once for this binary).
#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "common/crypto.h"
#include "tracker/store/memory_store.h"
#include "tracker/store/redis_stream_store.h"
#include "tracker/store/store_factory.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::store {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kPeerTimeoutSeconds = 20;
constexpr auto kReplyLimit = 10s;   // a store answers long before this; it only bounds a broken test
constexpr auto kHealthyLimit = 20s;

std::string url_for(const std::string& backend) {
  if (backend == "redis") return "redis://" + testing::shared_server().address();
  if (backend == "cluster") return testing::shared_cluster().url();
  return "memory";
}

class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    MemoryStoreOptions o;
    o.peer_timeout_ms = kPeerTimeoutSeconds * 1000;
    o.seed = 7;
    std::string err;
    store_ = make_store(url_for(GetParam()), o, clock_, nullptr, err);
    ASSERT_TRUE(store_) << err;
    auto end = std::chrono::steady_clock::now() + kHealthyLimit;
    std::string why;
    while (!store_->healthy(why) && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(store_->healthy(why)) << why;
    auto r = crypto::random_u64();
    for (size_t i = 0; i < hash_.size(); ++i) hash_[i] = static_cast<uint8_t>(r >> (8 * (i % 8))) ^ uint8_t(i);
  }

  static PeerData peer(int n, uint64_t left = 100, Locality loc = {}, Reach reach = Reach::unknown) {
    PeerData p;
    p.device = "dev-" + std::to_string(n);
    p.peer_id.fill(static_cast<uint8_t>(n));
    p.peer_id[0] = static_cast<uint8_t>(n >> 8);
    p.ip.b = {1, 1, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    p.port = static_cast<uint16_t>(10000 + n);
    p.left = left;
    p.loc = loc;
    p.reach = reach;
    return p;
  }

  struct Reply {
    Status status;
    AnnounceResult result;
  };

  Reply announce(const PeerData& p, Event ev = Event::none, uint32_t numwant = 50, SelectionPolicy pol = {}) {
    AnnounceOp op;
    op.info_hash = hash_;
    op.peer = p;
    op.event = ev;
    op.policy = pol;
    op.policy.numwant = numwant;
    auto prom = std::make_shared<std::promise<Reply>>();
    auto fut = prom->get_future();
    store_->announce(op, [prom](Status st, AnnounceResult&& r) { prom->set_value({st, std::move(r)}); });
    EXPECT_EQ(fut.wait_for(kReplyLimit), std::future_status::ready);
    Reply r = fut.get();
    EXPECT_EQ(r.result.interval_hint, 0u) << "answered from the degraded fallback";
    return r;
  }

  std::vector<SwarmCounts> scrape(std::vector<InfoHash> hs) {
    auto prom = std::make_shared<std::promise<std::vector<SwarmCounts>>>();
    auto fut = prom->get_future();
    store_->scrape(hs, [prom](Status st, std::vector<SwarmCounts>&& c) {
      EXPECT_EQ(st, Status::ok);
      prom->set_value(std::move(c));
    });
    EXPECT_EQ(fut.wait_for(kReplyLimit), std::future_status::ready);
    return fut.get();
  }

  static std::set<int> ids(const AnnounceResult& r) {
    std::set<int> out;
    for (const auto& p : r.peers) out.insert(p.peer_id[0] << 8 | p.peer_id[1]);
    return out;
  }

  ManualClock clock_;
  InfoHash hash_{};
  std::unique_ptr<SwarmStore> store_;
};

TEST_P(StoreConformance, CountsSeedersAndLeechers) {
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(announce(peer(i), Event::started).status, Status::ok);
  for (int i = 4; i <= 5; ++i) announce(peer(i, 0), Event::started);
  auto r = announce(peer(1));
  EXPECT_EQ(r.result.seeders, 2u);
  EXPECT_EQ(r.result.leechers, 3u);
  auto s = scrape({hash_});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].seeders, 2u);
  EXPECT_EQ(s[0].leechers, 3u);
  auto c = store_->counts(hash_);
  EXPECT_EQ(c.seeders, 2u);
  EXPECT_EQ(c.leechers, 3u);
}

TEST_P(StoreConformance, UnknownSwarmScrapesAsZero) {
  InfoHash other{};
  other.fill(0xEE);
  other[0] = hash_[0];
  auto s = scrape({other});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].seeders + s[0].leechers, 0u);
  EXPECT_EQ(s[0].completed, 0u);
}

TEST_P(StoreConformance, CompletedCountsOncePerDownload) {
  announce(peer(1), Event::started);
  auto r = announce(peer(1, 0), Event::completed);
  EXPECT_EQ(r.result.completed, 1u);
  EXPECT_EQ(r.result.seeders, 1u);
  EXPECT_EQ(r.result.leechers, 0u);
  r = announce(peer(1, 0), Event::completed);
  EXPECT_EQ(r.result.completed, 1u);
  EXPECT_EQ(scrape({hash_})[0].completed, 1u);
}

TEST_P(StoreConformance, StoppedRemovesThePeer) {
  announce(peer(1), Event::started);
  announce(peer(2), Event::started);
  auto r = announce(peer(2), Event::stopped, 0);
  EXPECT_EQ(r.result.leechers, 1u);
  r = announce(peer(3), Event::started);
  EXPECT_EQ(ids(r.result), (std::set<int>{1}));
  EXPECT_EQ(r.result.leechers, 2u);
}

TEST_P(StoreConformance, NeverHandsOutTheRequester) {
  for (int i = 1; i <= 4; ++i) announce(peer(i), Event::started);
  auto r = announce(peer(2));
  EXPECT_EQ(ids(r.result), (std::set<int>{1, 3, 4}));
}

TEST_P(StoreConformance, LeechersGetSeedersFirstSeedersGetOnlyLeechers) {
  for (int i = 1; i <= 5; ++i) announce(peer(i, 0), Event::started);
  for (int i = 6; i <= 10; ++i) announce(peer(i), Event::started);
  auto r = announce(peer(11), Event::started, 5);
  ASSERT_EQ(r.result.peers.size(), 5u);
  for (const auto& p : r.result.peers) EXPECT_TRUE(p.seeder);
  auto s = announce(peer(1, 0), Event::none, 50);
  EXPECT_EQ(s.result.peers.size(), 6u);
  for (const auto& p : s.result.peers) EXPECT_FALSE(p.seeder);
}

TEST_P(StoreConformance, LanAddressOnlyOnLanKeyMatch) {
  Locality home{0xABCDEF0123456789ULL, 100, 1};
  PeerData a = peer(1, 100, home), b = peer(2, 100, home);
  for (PeerData* p : {&a, &b}) {
    p->has_lan = true;
    p->lan_ip.b = {192, 168, 1, static_cast<uint8_t>(p->port & 0xff)};
    p->lan_port = 6881;
  }
  announce(a, Event::started);
  auto rb = announce(b, Event::started);
  ASSERT_EQ(rb.result.peers.size(), 1u);
  EXPECT_EQ(rb.result.peers[0].tier, Tier::lan);
  EXPECT_EQ(rb.result.peers[0].ip.b[0], 192);
  EXPECT_EQ(rb.result.peers[0].port, 6881);
  EXPECT_EQ(rb.result.peers[0].pairing, Pairing::direct);
  // Same ISP, other LAN: the public address, never the private one.
  PeerData c = peer(3, 100, Locality{0x1111, 100, 1});
  c.has_lan = true;
  c.lan_ip.b = {192, 168, 1, 50};
  auto rc = announce(c, Event::started);
  ASSERT_EQ(rc.result.peers.size(), 2u);
  for (const auto& p : rc.result.peers) {
    EXPECT_EQ(p.tier, Tier::isp);
    EXPECT_EQ(p.ip.b[0], 1);
    EXPECT_NE(p.port, 6881);
  }
}

TEST_P(StoreConformance, SameIspFirstWithKPeersOutside) {
  for (int i = 1; i <= 10; ++i) announce(peer(i, 0, Locality{0, 100, 1}), Event::started);
  for (int i = 11; i <= 20; ++i) announce(peer(i, 0, Locality{0, 200, 2}), Event::started);
  SelectionPolicy pol;
  pol.outside_isp = 2;
  auto r = announce(peer(21, 100, Locality{0, 100, 1}), Event::started, 6, pol);
  ASSERT_EQ(r.result.peers.size(), 6u);
  int isp = 0, other = 0;
  for (const auto& p : r.result.peers) {
    int id = p.peer_id[0] << 8 | p.peer_id[1];
    if (p.tier == Tier::isp) {
      ++isp;
      EXPECT_LE(id, 10);
    } else {
      ++other;
      EXPECT_EQ(p.tier, Tier::other);
      EXPECT_GT(id, 10);
    }
  }
  EXPECT_EQ(isp, 4);
  EXPECT_EQ(other, 2);
  auto c = store_->counts(hash_);
  (void)c;
  auto s = scrape({hash_});
  EXPECT_GE(s[0].tiers[static_cast<size_t>(Tier::isp)], 4u);
}

TEST_P(StoreConformance, RegionTierBeforeOutside) {
  for (int i = 1; i <= 3; ++i) announce(peer(i, 0, Locality{0, 300, 9}), Event::started);
  for (int i = 4; i <= 13; ++i) announce(peer(i, 0, Locality{0, 400, 8}), Event::started);
  SelectionPolicy pol;
  pol.outside_isp = 0;
  auto r = announce(peer(20, 100, Locality{0, 100, 9}), Event::started, 3, pol);
  ASSERT_EQ(r.result.peers.size(), 3u);
  for (const auto& p : r.result.peers) EXPECT_EQ(p.tier, Tier::region);
}

TEST_P(StoreConformance, ReachabilityFilterSkipsRelayOnlyPairs) {
  for (int i = 1; i <= 3; ++i) announce(peer(i, 0, {}, Reach::hard), Event::started);
  for (int i = 4; i <= 5; ++i) announce(peer(i, 0, {}, Reach::connectable), Event::started);
  auto r = announce(peer(6, 100, {}, Reach::hard), Event::started, 50);
  EXPECT_EQ(ids(r.result), (std::set<int>{4, 5}));
  for (const auto& p : r.result.peers) EXPECT_EQ(p.pairing, Pairing::direct);
  SelectionPolicy off;
  off.reachability = false;
  EXPECT_EQ(announce(peer(6, 100, {}, Reach::hard), Event::none, 50, off).result.peers.size(), 5u);
}

TEST_P(StoreConformance, UnreachableOnlySwarmStillAnswers) {
  for (int i = 1; i <= 3; ++i) announce(peer(i, 0, {}, Reach::hard), Event::started);
  auto r = announce(peer(6, 100, {}, Reach::hard), Event::started, 50);
  EXPECT_EQ(r.result.peers.size(), 3u);
}

TEST_P(StoreConformance, AddressFamilyFilter) {
  PeerData v6 = peer(1, 0);
  v6.ip.v6 = true;
  v6.ip.b = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  announce(v6, Event::started);
  announce(peer(2, 0), Event::started);
  SelectionPolicy v4only;
  v4only.want_v6 = false;
  auto r = announce(peer(3), Event::started, 50, v4only);
  EXPECT_EQ(ids(r.result), (std::set<int>{2}));
  SelectionPolicy v6only;
  v6only.want_v4 = false;
  r = announce(peer(3), Event::none, 50, v6only);
  ASSERT_EQ(r.result.peers.size(), 1u);
  EXPECT_TRUE(r.result.peers[0].ip.v6);
  EXPECT_EQ(r.result.peers[0].ip.b, v6.ip.b);
}

TEST_P(StoreConformance, SilentPeersExpire) {
  announce(peer(1), Event::started);
  announce(peer(2), Event::started);
  // Stores may expire a peer anywhere between timeout/2 and timeout of silence (time windows):
  // peer 1 stays silent for longer than the timeout, peer 2 for at most half of it.
  clock_.advance_seconds(kPeerTimeoutSeconds / 2 + 1);
  announce(peer(2));
  clock_.advance_seconds(kPeerTimeoutSeconds / 2);
  auto r = announce(peer(3), Event::started);
  EXPECT_EQ(ids(r.result), (std::set<int>{2}));
  EXPECT_EQ(r.result.leechers, 2u);
  store_->maintain();
  EXPECT_EQ(scrape({hash_})[0].leechers, 2u);
}

TEST_P(StoreConformance, CumulativeBytes) {
  PeerData p = peer(1);
  p.uploaded = 100;
  p.downloaded = 1000;
  announce(p, Event::started);
  p.uploaded = 300;
  p.downloaded = 5000;
  announce(p);
  auto s = scrape({hash_});
  EXPECT_EQ(s[0].uploaded, 300u);
  EXPECT_EQ(s[0].downloaded, 5000u);
}

TEST_P(StoreConformance, NatMixCounts) {
  PeerData a = peer(1), b = peer(2);
  a.nat = NatBucket::eim;
  b.nat = NatBucket::public_address;
  announce(a, Event::started);
  announce(b, Event::started);
  auto s = scrape({hash_});
  EXPECT_EQ(s[0].nat[static_cast<size_t>(NatBucket::eim)], 1u);
  EXPECT_EQ(s[0].nat[static_cast<size_t>(NatBucket::public_address)], 1u);
}

TEST_P(StoreConformance, RemoveSwarmForgetsEverything) {
  for (int i = 1; i <= 3; ++i) announce(peer(i, 0), Event::completed);
  store_->remove_swarm(hash_);
  auto r = announce(peer(9), Event::started);
  EXPECT_TRUE(r.result.peers.empty());
  EXPECT_EQ(r.result.seeders, 0u);
  EXPECT_EQ(r.result.leechers, 1u);
  EXPECT_EQ(r.result.completed, 0u);
}

TEST_P(StoreConformance, EarlyPeriodicReannounceIsCheap) {
  announce(peer(1, 0), Event::started);
  AnnounceOp op;
  op.info_hash = hash_;
  op.peer = peer(2);
  op.event = Event::started;
  op.min_interval_ms = (kPeerTimeoutSeconds / 2 - 2) * 1000;  // well inside the peers' lifetime
  auto run = [&] {
    auto prom = std::make_shared<std::promise<AnnounceResult>>();
    store_->announce(op, [prom](Status, AnnounceResult&& r) { prom->set_value(std::move(r)); });
    return prom->get_future().get();
  };
  auto first = run();
  EXPECT_FALSE(first.too_soon);
  EXPECT_EQ(first.peers.size(), 1u);
  op.event = Event::none;
  clock_.advance_seconds(3);
  auto early = run();
  EXPECT_TRUE(early.too_soon);
  EXPECT_TRUE(early.peers.empty());
  EXPECT_EQ(early.seeders, 1u);
  EXPECT_EQ(early.leechers, 1u);
  clock_.advance_seconds(kPeerTimeoutSeconds / 2 - 4);  // 9 s since the last real announce
  auto due = run();
  EXPECT_FALSE(due.too_soon);
  EXPECT_EQ(due.peers.size(), 1u);
}

TEST_P(StoreConformance, SelectionStaysWithinNumwant) {
  for (int i = 1; i <= 60; ++i) announce(peer(i, i % 2 ? 0 : 10), Event::started);
  auto r = announce(peer(100), Event::started, 25);
  EXPECT_EQ(r.result.peers.size(), 25u);
  EXPECT_EQ(ids(r.result).size(), 25u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::Values("memory", "redis", "cluster"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace otaswarm::store

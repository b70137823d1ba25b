#include "tracker/store/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <random>
#include <set>
#include <string>

#include "common/clock.h"

namespace otaswarm::store {
namespace {

constexpr uint64_t kSeed = 12345;
constexpr uint64_t kLanA = 0xa11a;
constexpr uint64_t kLanB = 0xb22b;
constexpr uint32_t kIspHome = 7;
constexpr uint32_t kIspOther = 8;

InfoHash hash_of(uint8_t b) {
  InfoHash h{};
  h.fill(b);
  return h;
}

Ip v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  Ip ip;
  ip.b[0] = a;
  ip.b[1] = b;
  ip.b[2] = c;
  ip.b[3] = d;
  return ip;
}

Ip v6_doc(uint8_t last) {
  Ip ip;
  ip.v6 = true;
  ip.b[0] = 0x20;
  ip.b[1] = 0x01;
  ip.b[2] = 0x0d;
  ip.b[3] = 0xb8;
  ip.b[15] = last;
  return ip;
}

// A peer numbered n: public address 198.51.(n/256).(n%256), port 6881.
PeerData peer(uint32_t n, bool seeder = false) {
  PeerData p;
  p.device = "device-" + std::to_string(n);
  p.peer_id.fill(static_cast<uint8_t>(n));
  p.peer_id[0] = static_cast<uint8_t>(n >> 8);
  p.ip = v4(198, 51, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n));
  p.port = 6881;
  p.left = seeder ? 0 : 1000;
  return p;
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  AnnounceResult announce(const PeerData& p, Event ev = Event::started, uint32_t numwant = 50,
                          SelectionPolicy pol = {}) {
    AnnounceOp op;
    op.info_hash = h_;
    op.peer = p;
    op.event = ev;
    op.policy = pol;
    op.policy.numwant = numwant;
    AnnounceResult r;
    EXPECT_EQ(store_.announce_sync(op, r), Status::ok);
    return r;
  }

  ManualClock clock_;
  MemoryStoreOptions opts_{.peer_timeout_ms = 1800 * 1000, .seed = kSeed};
  MemoryStore store_{opts_, clock_};
  InfoHash h_ = hash_of(1);
};

TEST_F(MemoryStoreTest, CountsSeedersAndLeechers) {
  announce(peer(1, true));
  announce(peer(2));
  auto r = announce(peer(3));
  EXPECT_EQ(r.seeders, 1u);
  EXPECT_EQ(r.leechers, 2u);
  EXPECT_EQ(store_.peer_count(h_), 3u);
  EXPECT_EQ(store_.peer_count(hash_of(9)), 0u);
}

TEST_F(MemoryStoreTest, NeverReturnsSelfOrDuplicates) {
  for (uint32_t i = 0; i < 40; ++i) announce(peer(i, i % 3 == 0));
  auto r = announce(peer(5), Event::none, 100);
  std::set<PeerId> seen;
  for (const auto& p : r.peers) {
    EXPECT_NE(p.peer_id, peer(5).peer_id);
    EXPECT_TRUE(seen.insert(p.peer_id).second);
  }
  EXPECT_EQ(r.peers.size(), 39u);
}

TEST_F(MemoryStoreTest, FixedSeedMakesSelectionDeterministic) {
  MemoryStore other(opts_, clock_);
  std::vector<PeerId> a, b;
  for (uint32_t i = 0; i < 100; ++i) {
    AnnounceOp op;
    op.info_hash = h_;
    op.peer = peer(i);
    op.policy.numwant = 10;
    AnnounceResult ra, rb;
    store_.announce_sync(op, ra);
    other.announce_sync(op, rb);
    for (auto& p : ra.peers) a.push_back(p.peer_id);
    for (auto& p : rb.peers) b.push_back(p.peer_id);
  }
  EXPECT_EQ(a, b);
}

TEST_F(MemoryStoreTest, StoppedRemovesThePeer) {
  announce(peer(1));
  announce(peer(2));
  auto r = announce(peer(1), Event::stopped, 0);
  EXPECT_EQ(r.leechers, 1u);
  r = announce(peer(3));
  ASSERT_EQ(r.peers.size(), 1u);
  EXPECT_EQ(r.peers[0].peer_id, peer(2).peer_id);
  // Stopping an unknown swarm creates nothing.
  AnnounceOp op;
  op.info_hash = hash_of(77);
  op.peer = peer(1);
  op.event = Event::stopped;
  AnnounceResult out;
  EXPECT_EQ(store_.announce_sync(op, out), Status::ok);
  EXPECT_EQ(store_.peer_count(hash_of(77)), 0u);
}

// Many joins and leaves in a random order: the device index grows and deletes from the middle
// of probe runs, and must still find every live device exactly once (a miss would count it twice).
TEST_F(MemoryStoreTest, DeviceIndexSurvivesChurn) {
  std::mt19937 rng(7);
  std::set<uint32_t> live;
  for (int round = 0; round < 20000; ++round) {
    uint32_t n = rng() % 3000;
    if (live.count(n) && rng() % 2) {
      announce(peer(n), Event::stopped, 0);
      live.erase(n);
    } else {
      announce(peer(n), live.count(n) ? Event::none : Event::started, 0);
      live.insert(n);
    }
  }
  EXPECT_EQ(store_.peer_count(h_), live.size());
  for (uint32_t n : live) announce(peer(n), Event::stopped, 0);
  EXPECT_EQ(store_.peer_count(h_), 0u);
  announce(peer(1));
  EXPECT_EQ(store_.peer_count(h_), 1u);
}

TEST_F(MemoryStoreTest, CompletedCountedOncePerDownload) {
  announce(peer(1));
  PeerData done = peer(1, true);
  announce(done, Event::completed);
  announce(done, Event::completed);
  announce(done, Event::none);
  EXPECT_EQ(store_.counts(h_).completed, 1u);
  EXPECT_EQ(store_.counts(h_).seeders, 1u);
  EXPECT_EQ(store_.counts(h_).leechers, 0u);
}

TEST_F(MemoryStoreTest, TransferTotalsAccumulateDeltas) {
  PeerData p = peer(1);
  p.uploaded = 100;
  p.downloaded = 1000;
  announce(p, Event::started);
  p.uploaded = 150;
  p.downloaded = 1500;
  announce(p, Event::none);
  auto c = store_.counts(h_);
  EXPECT_EQ(c.uploaded, 150u);
  EXPECT_EQ(c.downloaded, 1500u);
  // A restarted client reports from zero again: its new counters add up, nothing is subtracted.
  p.uploaded = 10;
  p.downloaded = 20;
  announce(p, Event::none);
  c = store_.counts(h_);
  EXPECT_EQ(c.uploaded, 160u);
  EXPECT_EQ(c.downloaded, 1520u);
}

TEST_F(MemoryStoreTest, SeedersGetOnlyLeechers) {
  for (uint32_t i = 0; i < 5; ++i) announce(peer(i, true));
  for (uint32_t i = 5; i < 8; ++i) announce(peer(i));
  auto r = announce(peer(100, true), Event::started, 50);
  ASSERT_EQ(r.peers.size(), 3u);
  for (const auto& p : r.peers) EXPECT_FALSE(p.seeder);
}

TEST_F(MemoryStoreTest, LeechersGetSeedersFirst) {
  for (uint32_t i = 0; i < 20; ++i) announce(peer(i));
  for (uint32_t i = 20; i < 23; ++i) announce(peer(i, true));
  auto r = announce(peer(100), Event::started, 5);
  ASSERT_EQ(r.peers.size(), 5u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(r.peers[i].seeder) << i;
  for (size_t i = 3; i < 5; ++i) EXPECT_FALSE(r.peers[i].seeder) << i;
}

TEST_F(MemoryStoreTest, NumwantZeroReturnsNoPeers) {
  for (uint32_t i = 0; i < 5; ++i) announce(peer(i));
  EXPECT_TRUE(announce(peer(9), Event::started, 0).peers.empty());
}

TEST_F(MemoryStoreTest, LanTierOnlyOnLanKeyMatchAndGetsLanAddress) {
  PeerData home = peer(1);
  home.loc.lan = kLanA;
  home.has_lan = true;
  home.lan_ip = v4(192, 168, 1, 10);
  home.lan_port = 7000;
  announce(home);
  PeerData neighbour = peer(2);
  neighbour.loc.lan = kLanB;
  neighbour.has_lan = true;
  neighbour.lan_ip = v4(192, 168, 1, 11);
  announce(neighbour);

  PeerData me = peer(3);
  me.loc.lan = kLanA;
  me.has_lan = true;
  me.lan_ip = v4(192, 168, 1, 12);
  auto r = announce(me);
  ASSERT_EQ(r.peers.size(), 2u);
  EXPECT_EQ(r.peers[0].peer_id, home.peer_id);  // the LAN tier comes first
  EXPECT_EQ(r.peers[0].tier, Tier::lan);
  EXPECT_EQ(r.peers[0].ip, home.lan_ip);
  EXPECT_EQ(r.peers[0].port, 7000);
  EXPECT_EQ(r.peers[0].pairing, Pairing::direct);
  EXPECT_EQ(r.peers[1].peer_id, neighbour.peer_id);
  EXPECT_EQ(r.peers[1].tier, Tier::other);
  EXPECT_EQ(r.peers[1].ip, neighbour.ip);  // another LAN's private address is never handed out

  PeerData stranger = peer(4);
  r = announce(stranger);
  for (const auto& p : r.peers) {
    EXPECT_NE(p.tier, Tier::lan);
    EXPECT_EQ(p.ip.b[0], 198);  // public addresses only
  }
}

TEST_F(MemoryStoreTest, IspTierBeforeOthersWithKOutsidePeers) {
  for (uint32_t i = 0; i < 10; ++i) {
    PeerData p = peer(i);
    p.loc.isp = kIspHome;
    announce(p);
  }
  for (uint32_t i = 10; i < 40; ++i) {
    PeerData p = peer(i);
    p.loc.isp = kIspOther;
    announce(p);
  }
  PeerData me = peer(100);
  me.loc.isp = kIspHome;
  SelectionPolicy pol;
  pol.outside_isp = 2;
  auto r = announce(me, Event::started, 8, pol);
  ASSERT_EQ(r.peers.size(), 8u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(r.peers[i].tier, Tier::isp) << i;
  for (size_t i = 6; i < 8; ++i) EXPECT_EQ(r.peers[i].tier, Tier::other) << i;

  // With room for everyone in the ISP, k outside peers are still included.
  r = announce(me, Event::none, 12, pol);
  ASSERT_EQ(r.peers.size(), 12u);
  size_t isp = 0, other = 0;
  for (const auto& p : r.peers) (p.tier == Tier::isp ? isp : other)++;
  EXPECT_EQ(isp, 10u);
  EXPECT_EQ(other, 2u);
}

TEST_F(MemoryStoreTest, LocalityOffIsAPlainRandomTracker) {
  for (uint32_t i = 0; i < 10; ++i) {
    PeerData p = peer(i);
    p.loc.isp = i < 5 ? kIspHome : kIspOther;
    announce(p);
  }
  PeerData me = peer(100);
  me.loc.isp = kIspHome;
  SelectionPolicy pol;
  pol.locality = false;
  auto r = announce(me, Event::started, 50, pol);
  EXPECT_EQ(r.peers.size(), 10u);
}

TEST_F(MemoryStoreTest, HardRequesterNeverGetsHardPeersWhenConnectableExist) {
  for (uint32_t i = 0; i < 10; ++i) {
    PeerData p = peer(i);
    p.reach = i % 2 ? Reach::hard : Reach::connectable;
    announce(p);
  }
  PeerData me = peer(100);
  me.reach = Reach::hard;
  auto r = announce(me, Event::started, 50);
  ASSERT_EQ(r.peers.size(), 5u);
  for (const auto& p : r.peers) EXPECT_EQ(p.pairing, Pairing::direct);
}

TEST_F(MemoryStoreTest, PunchablePairsArePreferredOverRelay) {
  for (uint32_t i = 0; i < 6; ++i) {
    PeerData p = peer(i);
    p.reach = i < 3 ? Reach::punchable : Reach::hard;
    announce(p);
  }
  PeerData me = peer(100);
  me.reach = Reach::punchable;
  auto r = announce(me, Event::started, 50);
  ASSERT_EQ(r.peers.size(), 3u);
  for (const auto& p : r.peers) EXPECT_EQ(p.pairing, Pairing::punch);
}

TEST_F(MemoryStoreTest, OnlyHardPeersFallBackRatherThanNothing) {
  for (uint32_t i = 0; i < 3; ++i) {
    PeerData p = peer(i);
    p.reach = Reach::hard;
    announce(p);
  }
  PeerData me = peer(100);
  me.reach = Reach::hard;
  auto r = announce(me, Event::started, 50);
  EXPECT_EQ(r.peers.size(), 3u);
  for (const auto& p : r.peers) EXPECT_EQ(p.pairing, Pairing::relay);
}

TEST_F(MemoryStoreTest, AddressFamilyFilter) {
  for (uint32_t i = 0; i < 4; ++i) announce(peer(i));
  PeerData six = peer(50);
  six.ip = v6_doc(50);
  announce(six);
  SelectionPolicy only6;
  only6.want_v4 = false;
  auto r = announce(peer(100), Event::started, 50, only6);
  ASSERT_EQ(r.peers.size(), 1u);
  EXPECT_TRUE(r.peers[0].ip.v6);
  SelectionPolicy only4;
  only4.want_v6 = false;
  r = announce(peer(101), Event::started, 50, only4);
  for (const auto& p : r.peers) EXPECT_FALSE(p.ip.v6);
  EXPECT_EQ(r.peers.size(), 5u);  // four v4 peers plus peer 100
}

TEST_F(MemoryStoreTest, SilentPeersExpire) {
  announce(peer(1));
  announce(peer(2));
  clock_.advance_seconds(1000);
  announce(peer(2), Event::none);  // peer 2 stays alive
  clock_.advance_seconds(900);     // peer 1 silent for 1900 s > 1800 s
  store_.maintain();
  EXPECT_EQ(store_.peer_count(h_), 1u);
  auto r = announce(peer(3));
  ASSERT_EQ(r.peers.size(), 1u);
  EXPECT_EQ(r.peers[0].peer_id, peer(2).peer_id);
  clock_.advance_seconds(1801);
  store_.maintain();
  EXPECT_EQ(store_.peer_count(h_), 0u);
}

TEST_F(MemoryStoreTest, RegroupOnStateChangeKeepsIndexesConsistent) {
  PeerData p = peer(1);
  p.loc.isp = kIspHome;
  announce(p);
  p.loc.isp = kIspOther;
  p.reach = Reach::connectable;
  p.left = 0;
  announce(p, Event::completed);
  PeerData me = peer(2);
  me.loc.isp = kIspOther;
  auto r = announce(me);
  ASSERT_EQ(r.peers.size(), 1u);
  EXPECT_EQ(r.peers[0].tier, Tier::isp);
  EXPECT_TRUE(r.peers[0].seeder);
  announce(p, Event::stopped, 0);
  me.loc.isp = kIspHome;
  EXPECT_TRUE(announce(me).peers.empty());
}

TEST_F(MemoryStoreTest, LimitsAreEnforced) {
  ManualClock clock;
  MemoryStore small({.max_swarms = 1, .max_peers_per_swarm = 2, .seed = kSeed}, clock);
  AnnounceOp op;
  op.info_hash = hash_of(1);
  AnnounceResult r;
  op.peer = peer(1);
  EXPECT_EQ(small.announce_sync(op, r), Status::ok);
  op.peer = peer(2);
  EXPECT_EQ(small.announce_sync(op, r), Status::ok);
  op.peer = peer(3);
  EXPECT_EQ(small.announce_sync(op, r), Status::limit);
  op.info_hash = hash_of(2);
  EXPECT_EQ(small.announce_sync(op, r), Status::limit);
  small.remove_swarm(hash_of(1));
  EXPECT_EQ(small.announce_sync(op, r), Status::ok);
}

TEST_F(MemoryStoreTest, ScrapeAndAsyncCallbacks) {
  announce(peer(1, true));
  announce(peer(2));
  bool called = false;
  store_.scrape({h_, hash_of(42)}, [&](Status st, std::vector<SwarmCounts>&& c) {
    called = true;
    EXPECT_EQ(st, Status::ok);
    ASSERT_EQ(c.size(), 2u);
    EXPECT_EQ(c[0].seeders, 1u);
    EXPECT_EQ(c[0].leechers, 1u);
    EXPECT_EQ(c[1].seeders + c[1].leechers, 0u);
  });
  EXPECT_TRUE(called);
  AnnounceOp op;
  op.info_hash = h_;
  op.peer = peer(3);
  called = false;
  store_.announce(op, [&](Status st, AnnounceResult&& r) {
    called = true;
    EXPECT_EQ(st, Status::ok);
    EXPECT_EQ(r.peers.size(), 2u);
  });
  EXPECT_TRUE(called);
}

TEST(Pairing, Matrix) {
  EXPECT_EQ(pairing(Reach::connectable, Reach::hard), Pairing::direct);
  EXPECT_EQ(pairing(Reach::hard, Reach::connectable), Pairing::direct);
  EXPECT_EQ(pairing(Reach::punchable, Reach::punchable), Pairing::punch);
  EXPECT_EQ(pairing(Reach::punchable, Reach::hard), Pairing::relay);
  EXPECT_EQ(pairing(Reach::hard, Reach::hard), Pairing::relay);
  EXPECT_EQ(pairing(Reach::unknown, Reach::hard), Pairing::unknown);
  EXPECT_FALSE(reachable(Reach::hard, Reach::hard));
  EXPECT_TRUE(reachable(Reach::unknown, Reach::hard));
}

TEST(MemoryStoreThreads, ConcurrentAnnouncesScrapesAndMaintenance) {
  // Several I/O threads announce into the same swarms (same shard) while the housekeeping thread
  // expires peers and an admin reads counts: ThreadSanitizer runs this.
  ManualClock clock;
  MemoryStore store({.peer_timeout_ms = 24LL * 3600 * 1000, .seed = kSeed}, clock);
  constexpr int kThreads = 4, kPeers = 300, kSwarms = 3;
  std::atomic<bool> done{false};
  std::thread house([&] {
    while (!done.load()) {
      store.maintain();
      store.counts(hash_of(1));
      store.scrape({hash_of(1), hash_of(2)}, [](Status, std::vector<SwarmCounts>&&) {});
      clock.advance_ms(1);
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPeers; ++i) {
        AnnounceOp op;
        op.info_hash = hash_of(static_cast<uint8_t>(1 + i % kSwarms));
        op.peer = peer(static_cast<uint32_t>(t * kPeers + i), i % 4 == 0);
        op.event = Event::started;
        op.policy.numwant = 20;
        AnnounceResult r;
        EXPECT_EQ(store.announce_sync(op, r), Status::ok);
        if (i % 10 == 0) {  // a few leave again
          op.event = Event::stopped;
          store.announce(op, [](Status s, AnnounceResult&&) { EXPECT_EQ(s, Status::ok); });
        }
      }
    });
  for (auto& th : ts) th.join();
  done = true;
  house.join();
  size_t total = 0;
  for (int s = 0; s < kSwarms; ++s) total += store.peer_count(hash_of(static_cast<uint8_t>(1 + s)));
  EXPECT_EQ(total, static_cast<size_t>(kThreads * (kPeers - kPeers / 10)));
}

}  // namespace
}  // namespace otaswarm::store

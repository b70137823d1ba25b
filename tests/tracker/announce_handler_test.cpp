#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "common/clock.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/proto/token.h"
#include "tracker/announce.h"
#include "tracker/locality.h"
#include "tracker/release_registry.h"
#include "tracker/tracker_metrics.h"

namespace otaswarm {
namespace {

constexpr uint64_t kSeed = 777;
constexpr int64_t kTokenTtl = 3600;
const std::string kKey = "tracker-test-key-0123456789abcdef";
const std::string kForeignKey = "someone-elses-key-0123456789abcd";

store::InfoHash hash_of(uint8_t b) {
  store::InfoHash h{};
  h.fill(b);
  return h;
}

const store::InfoHash kRelease = hash_of(0xaa);

net::Address addr(const char* s) { return *net::parse_address(s); }

std::string ip_text(const store::SelectedPeer& p) {
  if (p.ip.v6) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy_n(p.ip.b.begin(), 16, b.begin());
    return boost::asio::ip::address_v6(b).to_string();
  }
  return boost::asio::ip::address_v4({p.ip.b[0], p.ip.b[1], p.ip.b[2], p.ip.b[3]}).to_string();
}

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Release r;
    r.info_hash = kRelease;
    r.name = "ota-1";
    std::string err;
    ASSERT_EQ(registry_.add(r, err), ReleaseRegistry::AddResult::created);
    make_handler({});
  }

  void make_handler(TrackerPolicy pol) {
    TrackerContext ctx;
    ctx.policy = std::move(pol);
    ctx.token_keys = token::KeyRing(kKey);
    ctx.clock = &clock_;
    ctx.registry = &registry_;
    ctx.store = &store_;
    ctx.locality = &locality_;
    ctx.metrics = &metrics_;
    ctx.origin = origin_;
    handler_ = std::make_unique<AnnounceHandler>(std::move(ctx));
  }

  std::string token_for(const std::string& device) { return token::mint(kKey, device, clock_.unix_seconds() + kTokenTtl); }

  AnnounceRequest request(uint32_t n, bool seeder = false, const char* source = nullptr) {
    AnnounceRequest r;
    r.token = token_for("device-" + std::to_string(n));
    r.info_hash = kRelease;
    r.peer_id.fill(static_cast<uint8_t>(n));
    r.port = static_cast<uint16_t>(6000 + n);
    r.left = seeder ? 0 : 1000;
    r.event = store::Event::started;
    std::string src = source ? source : "198.51.100." + std::to_string(n);
    r.source = addr(src.c_str());
    return r;
  }

  AnnounceResponse announce(const AnnounceRequest& r) {
    AnnounceResponse out;
    int calls = 0;
    handler_->announce(r, [&](AnnounceResponse&& res) {
      ++calls;
      out = std::move(res);
    });
    EXPECT_EQ(calls, 1);
    return out;
  }

  ScrapeResponse scrape(const ScrapeRequest& r) {
    ScrapeResponse out;
    int calls = 0;
    handler_->scrape(r, [&](ScrapeResponse&& res) {
      ++calls;
      out = std::move(res);
    });
    EXPECT_EQ(calls, 1);
    return out;
  }

  uint64_t rejects(const char* reason) { return metrics_.rejects.with({reason}).value(); }

  ManualClock clock_;
  store::MemoryStore store_{{.seed = kSeed}, clock_};
  ReleaseRegistry registry_{nullptr};
  BasicLocality locality_;
  metrics::Registry mreg_;
  TrackerMetrics metrics_{mreg_};
  OriginPlanner* origin_ = nullptr;
  std::unique_ptr<AnnounceHandler> handler_;
};

TEST_F(HandlerTest, OriginAdviceForHttpAndForUdpClientsThatAsk) {
  OriginPlanner planner(clock_);
  origin_ = &planner;
  make_handler({});
  auto http = announce(request(1));
  ASSERT_TRUE(http.origin);  // HTTP: an extra key, always
  EXPECT_TRUE(http.origin->grant);  // alone in the swarm: nobody to get it from
  auto plain = request(2);
  plain.protocol = Protocol::udp;
  EXPECT_FALSE(announce(plain).origin);  // a plain UDP client never asked
  auto agent = request(3);
  agent.protocol = Protocol::udp;
  agent.origin = true;
  auto res = announce(agent);
  ASSERT_TRUE(res.origin);
  EXPECT_EQ(res.origin->recheck_s, kDefaultRecheckS);
  EXPECT_EQ(res.origin->starvation_floor, kDefaultStarvationFloor);
}

TEST_F(HandlerTest, PacedGrantsAreBoundedGreedyGrantsAll) {
  OriginPlanner planner(clock_);
  origin_ = &planner;
  make_handler({});
  OriginPolicy pol;
  pol.grants = 2;
  std::string err;
  ASSERT_TRUE(registry_.set_origin_policy(kRelease, pol, err)) << err;
  int granted = 0;
  for (uint32_t i = 1; i <= 8; ++i) {
    auto r = request(i);
    r.protocol = Protocol::udp;
    r.origin = true;
    auto res = announce(r);
    ASSERT_TRUE(res.origin);
    granted += res.origin->grant;
  }
  EXPECT_EQ(granted, 3);  // the first one had no peers (starved), then two paced grants
  EXPECT_EQ(planner.stats(kRelease).outstanding, 3u);
  pol.mode = OriginMode::greedy;
  ASSERT_TRUE(registry_.set_origin_policy(kRelease, pol, err));
  auto r = request(9);
  r.protocol = Protocol::udp;
  r.origin = true;
  EXPECT_TRUE(announce(r).origin->grant);
}

TEST_F(HandlerTest, AcceptsARegisteredReleaseWithAValidToken) {
  auto res = announce(request(1));
  EXPECT_EQ(res.reject, Reject::none);
  EXPECT_TRUE(res.failure.empty());
  EXPECT_EQ(res.incomplete, 1u);
  EXPECT_GT(res.interval, 0u);
  EXPECT_EQ(metrics_.announces.with({"http", "started", "ok"}).value(), 1u);
}

TEST_F(HandlerTest, UnregisteredInfoHashIsRefused) {
  auto r = request(1);
  r.info_hash = hash_of(0x01);
  auto res = announce(r);
  EXPECT_EQ(res.reject, Reject::unknown_info_hash);
  EXPECT_FALSE(res.failure.empty());
  EXPECT_EQ(rejects("unknown_info_hash"), 1u);
  EXPECT_EQ(store_.peer_count(hash_of(0x01)), 0u);
  EXPECT_EQ(metrics_.announces.with({"http", "started", "error"}).value(), 1u);
}

TEST_F(HandlerTest, TokenProblemsAreRefusedWithTheirReason) {
  auto r = request(1);
  r.token.clear();
  EXPECT_EQ(announce(r).reject, Reject::malformed_token);
  r.token = "not-a-token";
  EXPECT_EQ(announce(r).reject, Reject::malformed_token);
  r.token = token::mint(kForeignKey, "device-1", clock_.unix_seconds() + kTokenTtl);
  EXPECT_EQ(announce(r).reject, Reject::bad_signature);
  r.token = token::mint(kKey, "device-1", clock_.unix_seconds() - 1);
  EXPECT_EQ(announce(r).reject, Reject::expired_token);
  EXPECT_EQ(rejects("malformed_token"), 2u);
  EXPECT_EQ(rejects("bad_signature"), 1u);
  EXPECT_EQ(rejects("expired_token"), 1u);
  EXPECT_EQ(store_.peer_count(kRelease), 0u);
}

TEST_F(HandlerTest, TokenExpiresWhileTheClockRuns) {
  auto r = request(1);
  EXPECT_EQ(announce(r).reject, Reject::none);
  clock_.advance_seconds(kTokenTtl + 1);
  r.event = store::Event::none;
  EXPECT_EQ(announce(r).reject, Reject::expired_token);
}

TEST_F(HandlerTest, OpenModeNeedsNoTokenOrRegistration) {
  TrackerPolicy pol;
  pol.open = true;
  make_handler(pol);
  auto r = request(1);
  r.token.clear();
  r.info_hash = hash_of(0x33);
  EXPECT_EQ(announce(r).reject, Reject::none);
  EXPECT_EQ(store_.peer_count(hash_of(0x33)), 1u);
  r.token = "garbage";  // a token that is given is still checked
  EXPECT_EQ(announce(r).reject, Reject::malformed_token);
}

TEST_F(HandlerTest, StoppedRemovesThePeer) {
  announce(request(1));
  announce(request(2));
  auto stop = request(1);
  stop.event = store::Event::stopped;
  auto res = announce(stop);
  EXPECT_EQ(res.reject, Reject::none);
  EXPECT_TRUE(res.peers.empty());
  EXPECT_EQ(store_.peer_count(kRelease), 1u);
  res = announce(request(3));
  ASSERT_EQ(res.peers.size(), 1u);
  EXPECT_EQ(res.peers[0].peer_id, request(2).peer_id);
}

TEST_F(HandlerTest, CompletedIsCountedOnce) {
  announce(request(1));
  auto done = request(1, true);
  done.event = store::Event::completed;
  announce(done);
  auto res = announce(done);
  EXPECT_EQ(res.downloaded, 1u);
  EXPECT_EQ(res.complete, 1u);
  EXPECT_EQ(res.incomplete, 0u);
}

TEST_F(HandlerTest, SeedersGetOnlyLeechers) {
  for (uint32_t i = 1; i <= 4; ++i) announce(request(i, true));
  for (uint32_t i = 5; i <= 6; ++i) announce(request(i));
  auto res = announce(request(7, true));
  ASSERT_EQ(res.peers.size(), 2u);
  for (const auto& p : res.peers) EXPECT_FALSE(p.seeder);
}

TEST_F(HandlerTest, LeechersGetSeedersFirst) {
  for (uint32_t i = 1; i <= 10; ++i) announce(request(i));
  for (uint32_t i = 11; i <= 12; ++i) announce(request(i, true));
  auto r = request(20);
  r.numwant = 4;
  auto res = announce(r);
  ASSERT_EQ(res.peers.size(), 4u);
  EXPECT_TRUE(res.peers[0].seeder);
  EXPECT_TRUE(res.peers[1].seeder);
  EXPECT_FALSE(res.peers[2].seeder);
}

TEST_F(HandlerTest, NumwantIsCappedAndDefaulted) {
  TrackerPolicy pol;
  pol.numwant_default = 3;
  pol.numwant_max = 5;
  make_handler(pol);
  for (uint32_t i = 1; i <= 20; ++i) announce(request(i));
  auto r = request(30);
  r.numwant = 1000;
  EXPECT_EQ(announce(r).peers.size(), 5u);
  r.numwant = -1;
  r.event = store::Event::none;
  clock_.advance_seconds(pol.min_interval);  // a periodic re-announce, not an early one
  EXPECT_EQ(announce(r).peers.size(), 3u);
  r.numwant = 0;
  clock_.advance_seconds(pol.min_interval);
  EXPECT_TRUE(announce(r).peers.empty());
}

TEST_F(HandlerTest, EarlyReannounceGetsACheapReply) {
  for (uint32_t i = 1; i <= 3; ++i) announce(request(i));
  auto r = request(1);
  r.event = store::Event::none;
  r.left = 0;
  auto res = announce(r);
  EXPECT_TRUE(res.too_soon);
  EXPECT_TRUE(res.peers.empty());
  EXPECT_EQ(res.incomplete, 3u);  // nothing changed: still a leecher
  EXPECT_EQ(metrics_.announces.with({"http", "none", "too_soon"}).value(), 1u);
  clock_.advance_seconds(TrackerPolicy{}.min_interval);
  res = announce(r);
  EXPECT_FALSE(res.too_soon);
  EXPECT_EQ(res.peers.size(), 2u);
  EXPECT_EQ(res.complete, 1u);
}

TEST_F(HandlerTest, ForwardedForOnlyFromTrustedProxies) {
  TrackerPolicy pol;
  pol.trusted_proxies.add(*net::parse_cidr("10.0.0.0/8"));
  make_handler(pol);
  auto via_proxy = request(1, false, "10.0.0.1");
  via_proxy.forwarded_for = " 203.0.113.7 , 10.0.0.1";
  announce(via_proxy);
  auto spoofer = request(2, false, "198.51.100.2");
  spoofer.forwarded_for = "203.0.113.8";
  spoofer.ip_param = "203.0.113.9";
  announce(spoofer);
  auto mapped_proxy = request(3, false, "::ffff:10.0.0.2");
  mapped_proxy.ip_param = "203.0.113.10";  // BEP 3 ip from the proxy, no header
  announce(mapped_proxy);

  auto res = announce(request(4));
  ASSERT_EQ(res.peers.size(), 3u);
  std::map<store::PeerId, std::string> seen;
  for (const auto& p : res.peers) seen[p.peer_id] = ip_text(p);
  EXPECT_EQ(seen[request(1).peer_id], "203.0.113.7");
  EXPECT_EQ(seen[request(2).peer_id], "198.51.100.2");
  EXPECT_EQ(seen[request(3).peer_id], "203.0.113.10");
}

TEST_F(HandlerTest, PublicLocalipIsIgnoredPrivateOneServesTheLan) {
  auto public_claim = request(1, false, "203.0.113.1");
  public_claim.localip = "8.8.8.8";
  public_claim.lan = "home";
  announce(public_claim);
  auto lan_peer = request(2, false, "203.0.113.1");
  lan_peer.localip = "192.168.1.20";
  lan_peer.lan = "home";
  announce(lan_peer);

  auto me = request(3, false, "203.0.113.1");
  me.localip = "192.168.1.30";
  me.lan = "home";
  auto res = announce(me);
  ASSERT_EQ(res.peers.size(), 2u);
  std::map<store::PeerId, store::SelectedPeer> seen;
  for (const auto& p : res.peers) seen[p.peer_id] = p;
  EXPECT_EQ(ip_text(seen[lan_peer.peer_id]), "192.168.1.20");
  EXPECT_EQ(seen[lan_peer.peer_id].tier, store::Tier::lan);
  EXPECT_EQ(ip_text(seen[public_claim.peer_id]), "203.0.113.1");
  EXPECT_NE(seen[public_claim.peer_id].tier, store::Tier::lan);

  // A device on another network never sees the private address.
  auto outsider = request(4, false, "198.51.100.4");
  outsider.lan = "home";
  for (const auto& p : announce(outsider).peers) EXPECT_EQ(ip_text(p), "203.0.113.1");
}

TEST_F(HandlerTest, LoopbackLocalipIsIgnored) {
  auto r = request(1, false, "203.0.113.1");
  r.localip = "127.0.0.1";
  r.lan = "home";
  announce(r);
  auto me = request(2, false, "203.0.113.1");
  me.localip = "192.168.0.2";
  me.lan = "home";
  auto res = announce(me);
  ASSERT_EQ(res.peers.size(), 1u);
  EXPECT_EQ(ip_text(res.peers[0]), "203.0.113.1");
}

TEST_F(HandlerTest, UdpRequestersGetTheirAddressFamilyOnly) {
  announce(request(1, false, "2001:db8::1"));
  announce(request(2, false, "198.51.100.2"));
  auto r = request(3, false, "198.51.100.3");
  r.protocol = Protocol::udp;
  auto res = announce(r);
  ASSERT_EQ(res.peers.size(), 1u);
  EXPECT_FALSE(res.peers[0].ip.v6);
  auto r6 = request(4, false, "2001:db8::4");
  r6.protocol = Protocol::udp;
  res = announce(r6);
  ASSERT_EQ(res.peers.size(), 1u);
  EXPECT_TRUE(res.peers[0].ip.v6);
}

TEST_F(HandlerTest, IntervalIsJitteredPerDeviceWithinBounds) {
  TrackerPolicy pol;
  pol.interval = 1000;
  pol.min_interval = 950;
  pol.interval_jitter = 0.1;
  make_handler(pol);
  std::set<uint32_t> distinct;
  for (int i = 0; i < 50; ++i) {
    uint32_t v = handler_->interval_for("device-" + std::to_string(i));
    EXPECT_GE(v, 950u);
    EXPECT_LE(v, 1100u);
    EXPECT_EQ(v, handler_->interval_for("device-" + std::to_string(i)));
    distinct.insert(v);
  }
  EXPECT_GT(distinct.size(), 10u);
  auto res = announce(request(1));
  EXPECT_LE(res.min_interval, res.interval);
}

TEST_F(HandlerTest, ScrapeReportsRegisteredReleasesOnly) {
  announce(request(1, true));
  announce(request(2));
  ScrapeRequest s;
  s.token = token_for("device-1");
  s.info_hashes = {kRelease, hash_of(0x01)};
  auto res = scrape(s);
  ASSERT_EQ(res.reject, Reject::none);
  ASSERT_EQ(res.files.size(), 2u);
  EXPECT_TRUE(res.files[0].known);
  EXPECT_EQ(res.files[0].complete, 1u);
  EXPECT_EQ(res.files[0].incomplete, 1u);
  EXPECT_FALSE(res.files[1].known);

  ScrapeRequest full;
  full.token = s.token;
  res = scrape(full);
  ASSERT_EQ(res.files.size(), 1u);
  EXPECT_EQ(res.files[0].info_hash, kRelease);
}

TEST_F(HandlerTest, HttpScrapeNeedsATokenUdpScrapeDoesNot) {
  ScrapeRequest s;
  s.info_hashes = {kRelease};
  EXPECT_EQ(scrape(s).reject, Reject::malformed_token);
  s.token = token::mint(kForeignKey, "d", clock_.unix_seconds() + kTokenTtl);
  EXPECT_EQ(scrape(s).reject, Reject::bad_signature);
  ScrapeRequest u;
  u.protocol = Protocol::udp;
  u.info_hashes = {kRelease};
  EXPECT_EQ(scrape(u).reject, Reject::none);
}

TEST_F(HandlerTest, StoreLimitBecomesOverloaded) {
  store::MemoryStore tiny({.max_swarms = 0, .seed = kSeed}, clock_);
  TrackerContext ctx = handler_->context();
  ctx.store = &tiny;
  AnnounceHandler h(ctx);
  AnnounceResponse out;
  h.announce(request(1), [&](AnnounceResponse&& r) { out = std::move(r); });
  EXPECT_EQ(out.reject, Reject::overloaded);
  EXPECT_FALSE(out.failure.empty());
}

// A release registered through another replica (only in the shared backend so far): the
// announce is not refused but waits for the registry's read-through and then goes on; an
// unknown hash is refused once the backend says so, and then at once from the negative cache.
class ReadThroughBackend final : public ReleasePersistence {
 public:
  bool save(const Release&, std::string&) override { return true; }
  bool remove(const store::InfoHash&, std::string&) override { return true; }
  bool save_origin(const store::InfoHash&, const OriginPolicy&, std::string&) override { return true; }
  std::vector<Release> load_all() override { return {}; }
  bool reads_through() const override { return true; }
  void fetch_async(const store::InfoHash& h, FetchDone done) override { reads.push_back({h, std::move(done)}); }
  std::vector<std::pair<store::InfoHash, FetchDone>> reads;
};

TEST_F(HandlerTest, UnknownHashIsReadThroughBeforeItIsRefused) {
  ReadThroughBackend backend;
  ReleaseRegistry shared(&backend);
  TrackerContext ctx = handler_->context();
  ctx.registry = &shared;
  AnnounceHandler h(ctx);
  std::vector<AnnounceResponse> got;
  auto r = request(1);
  h.announce(r, [&](AnnounceResponse&& res) { got.push_back(std::move(res)); });
  ASSERT_TRUE(got.empty()) << "answered before the backend did";
  ASSERT_EQ(backend.reads.size(), 1u);
  Release rel;
  rel.info_hash = kRelease;
  backend.reads[0].second(true, rel);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].reject, Reject::none) << got[0].failure;
  EXPECT_EQ(store_.peer_count(kRelease), 1u);
  h.announce(request(2), [&](AnnounceResponse&& res) { got.push_back(std::move(res)); });
  ASSERT_EQ(got.size(), 2u) << "a cached release is answered on the spot";
  EXPECT_EQ(backend.reads.size(), 1u);

  auto u = request(3);
  u.info_hash = hash_of(0x02);
  h.announce(u, [&](AnnounceResponse&& res) { got.push_back(std::move(res)); });
  ASSERT_EQ(backend.reads.size(), 2u);
  backend.reads[1].second(true, std::nullopt);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].reject, Reject::unknown_info_hash);
  h.announce(u, [&](AnnounceResponse&& res) { got.push_back(std::move(res)); });
  ASSERT_EQ(got.size(), 4u) << "a recent miss is refused at once";
  EXPECT_EQ(got[3].reject, Reject::unknown_info_hash);
  EXPECT_EQ(backend.reads.size(), 2u);
}

}  // namespace
}  // namespace otaswarm

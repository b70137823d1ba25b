// The simulation engine without a tracker: a fake directory that hands every phone the whole
// swarm, as a plain tracker does for small swarms.
#include <gtest/gtest.h>

#include "loadtest/swarm/engine.h"
#include "loadtest/swarm/model.h"

namespace otaswarm::sim {
namespace {

constexpr uint64_t kSmallFile = 8u << 20;
constexpr uint32_t kAnnounceInterval = 90;

class WholeSwarm : public Directory {
 public:
  explicit WholeSwarm(const Population& pop) : pop_(pop) {}
  Reply announce(const Phone& p, Event e, uint64_t, uint64_t, uint64_t) override {
    Reply r;
    r.ok = true;
    r.interval = kAnnounceInterval;
    if (e == Event::stopped) {
      joined_[p.id] = false;
      return r;
    }
    joined_[p.id] = true;
    for (const auto& q : pop_.phones)
      if (q.id != p.id && joined_[q.id]) r.peers.push_back({parse_ipv4(q.public_ip), q.port});
    ++calls;
    return r;
  }
  uint32_t calls = 0;

 private:
  const Population& pop_;
  std::map<uint32_t, bool> joined_;
};

Scenario small(const std::string& base, uint32_t phones = 5) {
  Calibration cal;
  auto s = find_scenario(base, cal);
  EXPECT_TRUE(s.has_value());
  s->file_bytes = kSmallFile;
  s->phones = phones;
  return *s;
}

Result run(const Scenario& s, const std::string& policy, bool with_directory = true) {
  SimOptions o{s, *find_policy(policy), Calibration{}, 7};
  Population pop = make_population(s, o.seed);
  WholeSwarm dir(pop);
  return simulate(o, pop, with_directory ? &dir : nullptr);
}

void expect_consistent(const Result& r) {
  EXPECT_EQ(r.completed, r.phones);
  EXPECT_EQ(r.s3_bytes + r.peer_bytes, r.client_server_bytes);
  uint64_t by_type = 0;
  for (uint64_t b : r.bytes_by_type) by_type += b;
  EXPECT_EQ(by_type, r.peer_bytes);
  EXPECT_LE(r.completion_p50_s, r.completion_p95_s);
}

TEST(Engine, ClientServerTakesEverythingFromS3) {
  auto r = run(small("thesis-ideal"), "client-server", false);
  expect_consistent(r);
  EXPECT_EQ(r.peer_bytes, 0u);
  EXPECT_DOUBLE_EQ(r.saving_pct, 0.0);
}

TEST(Engine, ConnectablePhonesShare) {
  auto r = run(small("thesis-ideal"), "random");
  expect_consistent(r);
  EXPECT_GT(r.saving_pct, 0.0);
  EXPECT_EQ(r.connections_by_type[static_cast<size_t>(ConnType::direct)], 10u);  // every pair of 5
  // All five finish and every pair ends as two seeds: each connection is dropped then, once.
  EXPECT_EQ(r.seed_pairs_closed, 10u);
}

TEST(Engine, SymmetricPairsNeedTheRelay) {
  Scenario s = small("thesis-worst", 2);
  s.fixed_nat = {NatKind::symmetric, NatKind::symmetric};
  auto plain = run(s, "random");
  expect_consistent(plain);
  EXPECT_EQ(plain.peer_bytes, 0u);
  auto full = run(s, "otaswarm");
  expect_consistent(full);
  EXPECT_GT(full.bytes_by_type[static_cast<size_t>(ConnType::relayed)], 0u);
  EXPECT_EQ(full.relay_sessions_peak, 1u);
  EXPECT_EQ(full.relay_capacity, rendezvous::kDefaultRelayBudget.release_bytes_per_second /
                                     rendezvous::kDefaultRelayBudget.session_bytes_per_second);
}

TEST(Engine, RelaySessionsAreAdmittedByTheRendezvousBudget) {
  Scenario s = small("thesis-worst", 4);
  s.fixed_nat = {NatKind::symmetric, NatKind::symmetric, NatKind::symmetric, NatKind::symmetric};
  SimOptions o{s, *find_policy("otaswarm"), Calibration{}, 7};
  o.policy.relay_budget.max_allocations = 2;  // 6 relay-only pairs, 2 slots held for the TTL
  Population pop = make_population(s, o.seed);
  WholeSwarm dir(pop);
  auto r = simulate(o, pop, &dir);
  expect_consistent(r);
  EXPECT_EQ(r.relay_capacity, 2u);
  EXPECT_EQ(r.relay_sessions_peak, 2u);
  EXPECT_EQ(r.connections_by_type[static_cast<size_t>(ConnType::relayed)], 2u);
  EXPECT_GT(r.relay_refused, 0u);
  EXPECT_GT(r.bytes_by_type[static_cast<size_t>(ConnType::relayed)], 0u);
}

TEST(Engine, PunchingConnectsPortRestrictedCones) {
  auto r = run(small("thesis-worst"), "locality-punch");
  expect_consistent(r);
  EXPECT_EQ(r.punch_attempts, 10u);
  EXPECT_GT(r.punch_successes, 0u);
  EXPECT_GT(r.bytes_by_type[static_cast<size_t>(ConnType::punched)], 0u);
}

TEST(Engine, SameSeedSameResult) {
  auto a = run(small("thesis-general"), "random");
  auto b = run(small("thesis-general"), "random");
  EXPECT_EQ(a.s3_bytes, b.s3_bytes);
  EXPECT_EQ(a.completion_p95_s, b.completion_p95_s);
}

TEST(Population, HouseholdsShareOneAddressAndIspPrefix) {
  Calibration cal;
  auto s = *find_scenario("flash-150", cal);
  Population pop = make_population(s, 3);
  ASSERT_EQ(pop.phones.size(), 150u);
  std::map<std::pair<std::string, uint16_t>, int> endpoints;
  for (const auto& p : pop.phones) {
    EXPECT_EQ(p.public_ip.rfind("127." + std::to_string(p.isp + 1) + ".", 0), 0u) << p.public_ip;
    EXPECT_EQ(++endpoints[std::make_pair(p.public_ip, p.port)], 1);
    if (p.lan < 0) continue;
    for (const auto& q : pop.phones) {
      if (q.lan == p.lan) {
        EXPECT_EQ(q.public_ip, p.public_ip);
      }
    }
  }
}

TEST(Population, OneWifiIsOneHousehold) {
  Calibration cal;
  Population pop = make_population(*find_scenario("thesis-one-wifi", cal), 1);
  ASSERT_EQ(pop.phones.size(), 5u);
  for (const auto& p : pop.phones) {
    EXPECT_EQ(p.lan, 0);
    EXPECT_EQ(p.nat, pop.phones[0].nat);
    EXPECT_EQ(p.site, pop.phones[0].site);
  }
}

}  // namespace
}  // namespace otaswarm::sim

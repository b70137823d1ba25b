#include "tracker/origin_planner.h"

#include <gtest/gtest.h>

#include <string>

namespace otaswarm {
namespace {

constexpr uint64_t kFile = 100'000'000;

store::InfoHash hash(uint8_t b) {
  store::InfoHash h{};
  h.fill(b);
  return h;
}

OriginObservation obs(std::string_view dev, uint64_t left, uint32_t leechers, size_t peers = 5,  // dev: a literal (the view is kept)
                      store::Event ev = store::Event::none) {
  OriginObservation o;
  o.device = dev;
  o.left = left;
  o.leechers = leechers;
  o.peers = peers;
  o.event = ev;
  return o;
}

TEST(OriginPlanner, GreedyGrantsEveryone) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.mode = OriginMode::greedy;
  for (int i = 0; i < 50; ++i) {
    auto a = pl.advise(hash(1), p, obs("d" + std::to_string(i), kFile, 50));
    EXPECT_TRUE(a.grant);
    EXPECT_EQ(a.reason, GrantReason::greedy);
  }
}

TEST(OriginPlanner, PacedGrantsAreBoundedAndPassOnWhenAHolderCompletes) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 2;
  int granted = 0;
  for (int i = 0; i < 10; ++i)
    granted += pl.advise(hash(1), p, obs("d" + std::to_string(i), kFile, 10, 5, store::Event::started)).grant;
  EXPECT_EQ(granted, 2);
  EXPECT_EQ(pl.stats(hash(1)).outstanding, 2u);
  EXPECT_EQ(pl.stats(hash(1)).given_paced, 2u);
  // d0 held a grant; it completes and d5 gets the freed one at its next announce.
  pl.advise(hash(1), p, obs("d0", 0, 9, 5, store::Event::completed));
  EXPECT_EQ(pl.stats(hash(1)).outstanding, 1u);
  clock.advance_seconds(p.recheck_s);
  auto a = pl.advise(hash(1), p, obs("d5", kFile - p.starvation_floor * p.recheck_s, 9));
  EXPECT_TRUE(a.grant);
  EXPECT_EQ(a.reason, GrantReason::paced);
  EXPECT_EQ(pl.stats(hash(1)).outstanding, 2u);
}

TEST(OriginPlanner, AutoBudgetScalesWithLeechers) {
  OriginPolicy p;
  EXPECT_EQ(OriginPlanner::grant_budget(p, 0), 1u);
  EXPECT_EQ(OriginPlanner::grant_budget(p, 5), 1u);
  EXPECT_EQ(OriginPlanner::grant_budget(p, kLeechersPerGrant + 1), 2u);
  p.grants = 7;
  EXPECT_EQ(OriginPlanner::grant_budget(p, 1000), 7u);
}

TEST(OriginPlanner, OriginRateIsSharedByTheGrants) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 4;
  p.origin_bytes_per_second = 4'000'000;
  auto a = pl.advise(hash(1), p, obs("d0", kFile, 10));
  ASSERT_TRUE(a.grant);
  EXPECT_EQ(a.rate, 1'000'000u);
}

TEST(OriginPlanner, NoPeersMeansStarvedAndGranted) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 1;
  pl.advise(hash(1), p, obs("holder", kFile, 3));
  auto a = pl.advise(hash(1), p, obs("alone", kFile, 3, 0));
  EXPECT_TRUE(a.grant);
  EXPECT_EQ(a.reason, GrantReason::starved);
  EXPECT_EQ(pl.stats(hash(1)).given_starved, 1u);
}

TEST(OriginPlanner, SlowProgressBeyondTheDelayGetsAGrantAndPeersTakeItBack) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 1;
  p.recheck_s = 10;
  p.starvation_delay_s = 20;
  pl.advise(hash(1), p, obs("holder", kFile, 3));
  uint64_t left = kFile;
  EXPECT_FALSE(pl.advise(hash(1), p, obs("slow", left, 3)).grant);
  // Below the floor for one recheck: not yet past the 20 s delay.
  left -= p.starvation_floor;
  clock.advance_seconds(10);
  EXPECT_FALSE(pl.advise(hash(1), p, obs("slow", left, 3)).grant);
  left -= p.starvation_floor;
  clock.advance_seconds(10);
  auto a = pl.advise(hash(1), p, obs("slow", left, 3));
  EXPECT_TRUE(a.grant);
  EXPECT_EQ(a.reason, GrantReason::starved);
  EXPECT_EQ(a.rate, 0u);
  // Progress above the floor with peers: the starvation grant goes back.
  left -= p.starvation_floor * p.recheck_s * 2;
  clock.advance_seconds(10);
  EXPECT_FALSE(pl.advise(hash(1), p, obs("slow", left, 3)).grant);
  EXPECT_EQ(pl.stats(hash(1)).outstanding, 1u);
}

TEST(OriginPlanner, ALiarCannotCycleThroughGrants) {
  ManualClock clock;
  OriginPlannerLimits lim;
  lim.grants_per_device = {1.0 / 60.0, 2};
  OriginPlanner pl(clock, lim);
  OriginPolicy p;
  p.grants = 1;
  pl.advise(hash(1), p, obs("holder", kFile, 3));
  // A device that alternates "no progress" and "lots of progress" acquires a grant each time it
  // looks starved; after its burst it is denied until its bucket refills.
  uint64_t left = 100 * kFile, holder_left = 100 * kFile;
  int grants = 0, denied = 0;
  for (int i = 0; i < 10; ++i) {
    clock.advance_seconds(p.recheck_s);
    holder_left -= p.starvation_floor * p.recheck_s;
    ASSERT_TRUE(pl.advise(hash(1), p, obs("holder", holder_left, 3)).grant);  // keeps its paced grant
    auto a = pl.advise(hash(1), p, obs("liar", left, 3, i % 2 ? 5 : 0));
    grants += a.grant;
    denied += a.reason == GrantReason::denied;
    left -= p.starvation_floor * p.recheck_s * 2;
  }
  EXPECT_LE(grants, 2 + 2);  // the burst + what 150 s refill at one a minute
  EXPECT_GE(denied, 1);
  EXPECT_EQ(pl.stats(hash(1)).denied, static_cast<uint64_t>(denied));
}

TEST(OriginPlanner, SilentHoldersLoseTheirGrantAfterTheLease) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 1;
  EXPECT_TRUE(pl.advise(hash(1), p, obs("gone", kFile, 2)).grant);
  EXPECT_FALSE(pl.advise(hash(1), p, obs("next", kFile, 2)).grant);
  clock.advance_seconds(int64_t{p.recheck_s} * OriginPlannerLimits{}.lease_rechecks + 2);
  auto a = pl.advise(hash(1), p, obs("next", kFile - p.starvation_floor * p.recheck_s * 10, 2));
  EXPECT_TRUE(a.grant);
  EXPECT_EQ(a.reason, GrantReason::paced);
}

TEST(OriginPlanner, OnePacedGrantPerLan) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 3;
  auto o = obs("a", kFile, 3);
  o.lan = 42;
  EXPECT_TRUE(pl.advise(hash(1), p, o).grant);
  o.device = "b";
  EXPECT_FALSE(pl.advise(hash(1), p, o).grant);
  o.device = "c";
  o.lan = 7;
  EXPECT_TRUE(pl.advise(hash(1), p, o).grant);
}

TEST(OriginPlanner, ReleasesAreIndependent) {
  ManualClock clock;
  OriginPlanner pl(clock);
  OriginPolicy p;
  p.grants = 1;
  EXPECT_TRUE(pl.advise(hash(1), p, obs("a", kFile, 2)).grant);
  EXPECT_TRUE(pl.advise(hash(2), p, obs("b", kFile, 2)).grant);
  pl.forget(hash(1));
  EXPECT_EQ(pl.stats(hash(1)).outstanding, 0u);
}

TEST(OriginPlanner, FullTableFailsOpen) {
  ManualClock clock;
  OriginPlannerLimits lim;
  lim.max_devices_per_release = 2;
  OriginPlanner pl(clock, lim);
  OriginPolicy p;
  p.grants = 1;
  pl.advise(hash(1), p, obs("a", kFile, 3));
  pl.advise(hash(1), p, obs("b", kFile, 3));
  EXPECT_TRUE(pl.advise(hash(1), p, obs("c", kFile, 3)).grant);
}

TEST(OriginPolicyJson, RoundTripAndPartialUpdate) {
  OriginPolicy p;
  p.mode = OriginMode::greedy;
  p.grants = 3;
  p.origin_bytes_per_second = 5'000'000;
  OriginPolicy q;
  ASSERT_EQ(parse_origin_policy(origin_policy_json(p), q), std::nullopt);
  EXPECT_EQ(p, q);
  ASSERT_EQ(parse_origin_policy(R"({"policy":"paced","recheck_seconds":30})", q), std::nullopt);
  EXPECT_EQ(q.mode, OriginMode::paced);
  EXPECT_EQ(q.recheck_s, 30u);
  EXPECT_EQ(q.grants, 3u);
}

TEST(OriginPolicyJson, RejectsBadInputAndKeepsThePolicy) {
  OriginPolicy q;
  EXPECT_NE(parse_origin_policy("[]", q), std::nullopt);
  EXPECT_NE(parse_origin_policy("{", q), std::nullopt);
  EXPECT_NE(parse_origin_policy(R"({"policy":"fast"})", q), std::nullopt);
  EXPECT_NE(parse_origin_policy(R"({"grants":-1})", q), std::nullopt);
  EXPECT_NE(parse_origin_policy(R"({"grants":1,"bogus":2})", q), std::nullopt);
  EXPECT_NE(parse_origin_policy(R"({"recheck_seconds":100000})", q), std::nullopt);
  EXPECT_EQ(q, OriginPolicy{});
}

}  // namespace
}  // namespace otaswarm

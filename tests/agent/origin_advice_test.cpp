#include "agent/origin_advice.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

udp::OriginTrailer advice(bool grant, uint32_t rate = 0) {
  udp::OriginTrailer t;
  t.grant = grant;
  t.rate = rate;
  t.recheck_s = 15;
  t.starvation_delay_s = 3;
  t.starvation_floor = 1'000'000;
  return t;
}

TEST(OriginAdvisor, GrantTurnsTheWebSeedOnAtTheToldRate) {
  ManualClock clock;
  OriginAdvisor a(clock);
  a.on_advice(advice(true, 500'000));
  a.on_peer_rate(2'000'000);
  auto d = a.decide();
  EXPECT_TRUE(d.webseed);
  EXPECT_EQ(d.why, OriginWhy::granted);
  EXPECT_EQ(d.rate, 500'000u);
  a.on_advice(advice(true, 0));
  EXPECT_EQ(a.decide().rate, 0u);  // no cap
}

TEST(OriginAdvisor, WithoutAGrantPeersFirstUntilStarvedForTheDelay) {
  ManualClock clock;
  OriginAdvisor a(clock);
  a.on_advice(advice(false));
  a.on_peer_rate(2'000'000);
  EXPECT_FALSE(a.decide().webseed);
  a.on_peer_rate(400'000);  // under the floor from now on
  clock.advance_seconds(2);
  EXPECT_FALSE(a.decide().webseed);
  clock.advance_seconds(1);
  auto d = a.decide();
  EXPECT_TRUE(d.webseed);
  EXPECT_EQ(d.why, OriginWhy::starved);
  EXPECT_EQ(d.rate, 600'000u);  // tops the peers up to the floor
  a.on_peer_rate(1'500'000);
  EXPECT_FALSE(a.decide().webseed);
}

TEST(OriginAdvisor, ARateShapedGrantStillTopsUpAStarvedDevice) {
  ManualClock clock;
  OriginAdvisor a(clock);
  a.on_advice(advice(true, 100'000));
  a.on_peer_rate(0);
  clock.advance_seconds(3);
  EXPECT_EQ(a.decide().rate, 1'000'000u);
}

TEST(OriginAdvisor, NoPeersAndNoTrackerMeansTheValveAfterTheDelay) {
  ManualClock clock;
  OriginAdvisor a(clock);  // never hears from the tracker
  EXPECT_FALSE(a.decide().webseed);
  clock.advance_seconds(OriginValve{}.delay_s);
  auto d = a.decide();
  EXPECT_TRUE(d.webseed);
  EXPECT_EQ(d.why, OriginWhy::starved);
}

TEST(OriginAdvisor, AStaleGrantNoLongerCounts) {
  ManualClock clock;
  OriginAdvisor a(clock);
  a.on_advice(advice(true));
  a.on_peer_rate(2'000'000);
  EXPECT_TRUE(a.decide().webseed);
  // The tracker died: after three recheck periods the grant lapses, the valve remains.
  clock.advance_seconds(3 * 15 + 1);
  EXPECT_FALSE(a.advice_fresh());
  EXPECT_FALSE(a.decide().webseed);
  a.on_peer_rate(0);
  clock.advance_seconds(3);
  EXPECT_TRUE(a.decide().webseed);
}

}  // namespace
}  // namespace otaswarm::agent

#include "tracker/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace otaswarm {
namespace {

int shed_of(QueueDelayGate& g, int announces) {
  int n = 0;
  for (int i = 0; i < announces; ++i) n += g.next() != QueueDelayGate::Verdict::handle ? 1 : 0;
  return n;
}

TEST(QueueDelayGate, OneDelayedMomentDoesNotShed) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  g.sample(400);  // the thread was descheduled once
  EXPECT_EQ(shed_of(g, 100), 0);
  clock.advance_ms(5);
  g.sample(3);  // the queue drained: no standing queue
  clock.advance_ms(QueueDelayGate::kShedConfirmMs);
  g.sample(80);  // a new run over target starts its own confirmation period
  EXPECT_EQ(g.share(), 0);
  EXPECT_EQ(shed_of(g, 100), 0);
}

TEST(QueueDelayGate, StandingQueueShedsAGrowingShareThenRecovers) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  for (int t = 0; t < QueueDelayGate::kShedConfirmMs; t += 10) {
    g.sample(60);
    EXPECT_EQ(g.share(), 0) << t;
    clock.advance_ms(10);
  }
  for (int i = 0; i < 4; ++i) {  // confirmed at 50 ms; then 10 ms per sample × kRisePerMs
    g.sample(60);
    clock.advance_ms(10);
  }
  g.sample(60);
  EXPECT_NEAR(g.share(), 0.5, 1e-9);
  EXPECT_EQ(shed_of(g, 100), 50);  // spread evenly, not in bursts
  clock.advance_ms(10);
  g.sample(40);  // below target, above half of it: the share holds (hysteresis)
  EXPECT_NEAR(g.share(), 0.5, 1e-9);
  clock.advance_ms(25);
  g.sample(10);  // below half the target: falls by 25 × kFallPerMs
  EXPECT_NEAR(g.share(), 0.0, 1e-9);
  EXPECT_EQ(shed_of(g, 100), 0);
  for (int i = 0; i < 200; ++i) {  // a long overload saturates at 1: every announce is shed
    g.sample(500);
    clock.advance_ms(10);
  }
  EXPECT_EQ(g.share(), 1);
  EXPECT_EQ(shed_of(g, 100), 100);
}

TEST(QueueDelayGate, VerdictLapsesWithoutSamples) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  for (int i = 0; i < 20; ++i) {
    g.sample(100);
    clock.advance_ms(10);
  }
  ASSERT_GT(g.share(), 0);
  clock.advance_ms(QueueDelayGate::kStaleMs);  // no traffic since: the old queue is gone
  EXPECT_EQ(g.next(), QueueDelayGate::Verdict::handle);
  g.sample(100);  // a lone late datagram after the gap starts a new confirmation period
  EXPECT_EQ(g.share(), 0);
}

TEST(QueueDelayGate, BusyRepliesAreBoundedByAnswersTheRestIsDropped) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  for (int i = 0; i < 200; ++i) {
    g.sample(500);
    clock.advance_ms(10);
  }
  ASSERT_EQ(g.share(), 1);
  int replies = 0, drops = 0;
  for (int i = 0; i < 1000; ++i) (g.next() == QueueDelayGate::Verdict::busy_reply ? replies : drops)++;
  // Nothing was let through: only the initial burst of busy replies is affordable.
  EXPECT_EQ(replies, static_cast<int>(QueueDelayGate::kBusyReplyBurst));
  EXPECT_EQ(drops, 1000 - replies);
  for (int i = 0; i < 200; ++i) {  // half the target and below: the share falls, announces pass again
    g.sample(10);
    clock.advance_ms(10);
  }
  int handled = 0;
  for (int i = 0; i < 100; ++i) handled += g.next() == QueueDelayGate::Verdict::handle ? 1 : 0;
  EXPECT_EQ(handled, 100);
}

TEST(QueueDelayGate, OffWhenTargetIsZero) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 0}, clock);
  EXPECT_FALSE(g.enabled());
  for (int i = 0; i < 100; ++i) {
    g.sample(1e6);
    clock.advance_ms(10);
  }
  EXPECT_EQ(shed_of(g, 100), 0);
}

TEST(TokenBuckets, BurstHoldsAcrossThreads) {
  // The clock stands still: however the takes interleave, exactly `burst` pass per key.
  ManualClock clock;
  TokenBuckets b({1, 8}, 1000, clock);
  constexpr int kThreads = 4, kKeys = 64, kRounds = 50;
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r)
        for (uint64_t k = 0; k < kKeys; ++k)
          if (b.take(k) == 0) allowed.fetch_add(1);
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(allowed.load(), kKeys * 8);
  EXPECT_EQ(b.size(), static_cast<size_t>(kKeys));
}

TEST(AdmissionController, ConcurrentAdmitRecordAndTick) {
  // I/O threads admit and record while the housekeeping thread ticks and sweeps.
  ManualClock clock;
  AdmissionConfig cfg;
  cfg.device = {1, 2};
  cfg.periodic_budget_per_second = 100;
  AdmissionController adm(cfg, clock);
  store::InfoHash h{};
  constexpr int kThreads = 3, kDevices = 500;
  std::atomic<int> admitted{0};
  std::atomic<bool> done{false};
  std::thread house([&] {
    while (!done.load()) {
      adm.tick();
      adm.sweep();
      EXPECT_GE(adm.interval_factor(), 1.0);
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int d = 0; d < kDevices; ++d) {
        auto r = adm.admit(admission_key("dev-" + std::to_string(d)), static_cast<uint64_t>(t), h, store::Event::started);
        if (r.decision == Admission::admitted) admitted.fetch_add(1);
        adm.record(0.001);
      }
    });
  for (auto& th : ts) th.join();
  done = true;
  house.join();
  EXPECT_EQ(admitted.load(), kDevices * 2);  // each device's burst of 2, whichever thread took it
}

}  // namespace
}  // namespace otaswarm

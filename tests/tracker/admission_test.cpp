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

// Samples `delay` every 10 ms for `ms`.
void hold(QueueDelayGate& g, ManualClock& clock, double delay, int ms) {
  for (int t = 0; t < ms; t += 10) {
    g.sample(delay);
    clock.advance_ms(10);
  }
}

TEST(QueueDelayGate, OneDelayedMomentDoesNotShed) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  g.sample(400);  // the thread was descheduled once
  EXPECT_FALSE(g.shedding());
  EXPECT_EQ(shed_of(g, 100), 0);
  clock.advance_ms(5);
  g.sample(3);  // the queue drained: no standing queue
  clock.advance_ms(QueueDelayGate::kShedConfirmMs);
  g.sample(80);  // a new run over target starts its own confirmation period
  EXPECT_EQ(shed_of(g, 100), 0);
}

TEST(QueueDelayGate, StandingQueueShedsWhatWaitedTooLongAndAnswersTheRest) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  for (int t = 0; t < QueueDelayGate::kShedConfirmMs; t += 10) {
    g.sample(60);
    EXPECT_EQ(shed_of(g, 10), 0) << t;
    clock.advance_ms(10);
  }
  g.sample(60);  // confirmed: a standing queue
  EXPECT_TRUE(g.shedding());
  EXPECT_EQ(shed_of(g, 32), 32);  // the whole batch that waited too long
  clock.advance_ms(2);
  g.sample(40);  // the backlog is worked off down to the target: answer again, at once
  EXPECT_FALSE(g.shedding());
  EXPECT_EQ(shed_of(g, 32), 0);
  clock.advance_ms(2);
  g.sample(70);  // within the episode: over target sheds without a new confirmation period
  EXPECT_EQ(shed_of(g, 32), 32);
  hold(g, clock, 10, QueueDelayGate::kHoldMs);  // the episode ends a while after the queue is gone
  g.sample(80);
  EXPECT_EQ(shed_of(g, 32), 0);  // a new episode needs its confirmation again
}

TEST(QueueDelayGate, VerdictLapsesWithoutSamples) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50}, clock);
  hold(g, clock, 100, 200);
  ASSERT_TRUE(g.shedding());
  clock.advance_ms(QueueDelayGate::kStaleMs);  // no traffic since: the old queue is gone
  EXPECT_EQ(g.next(), QueueDelayGate::Verdict::handle);
  g.sample(100);  // a lone late datagram after the gap starts a new confirmation period
  EXPECT_FALSE(g.shedding());
}

TEST(QueueDelayGate, EveryShedAnnounceGetsABusyReplyWithinTheBound) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50, .busy_per_answer = 2}, clock);
  hold(g, clock, 500, 200);
  ASSERT_TRUE(g.shedding());
  int replies = 0, drops = 0;
  for (int i = 0; i < 2000; ++i) (g.next() == QueueDelayGate::Verdict::busy_reply ? replies : drops)++;
  // Nothing was let through: only the initial burst of busy replies is affordable.
  EXPECT_EQ(replies, static_cast<int>(QueueDelayGate::kBusyReplyBurst));
  EXPECT_EQ(drops, 2000 - replies);
  // Alternating batches over and under target: 10 answers buy 20 busy replies, no drops.
  replies = drops = 0;
  for (int round = 0; round < 10; ++round) {
    g.sample(20);
    EXPECT_EQ(shed_of(g, 10), 0);
    g.sample(80);
    for (int i = 0; i < 20; ++i) (g.next() == QueueDelayGate::Verdict::busy_reply ? replies : drops)++;
  }
  EXPECT_EQ(replies, 200);
  EXPECT_EQ(drops, 0);
}

TEST(QueueDelayGate, ZeroBusyPerAnswerDropsEveryShedAnnounceAfterTheBurst) {
  ManualClock clock;
  QueueDelayGate g({.queue_delay_ms = 50, .busy_per_answer = 0}, clock);
  hold(g, clock, 500, 200);
  g.sample(10);
  EXPECT_EQ(shed_of(g, 100), 0);
  g.sample(500);
  int replies = 0;
  for (int i = 0; i < 2000; ++i) replies += g.next() == QueueDelayGate::Verdict::busy_reply ? 1 : 0;
  EXPECT_EQ(replies, static_cast<int>(QueueDelayGate::kBusyReplyBurst));
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
        auto r = adm.admit(rate_key("dev-" + std::to_string(d)), static_cast<uint64_t>(t), h, store::Event::started);
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

#include "loadtest/load/schedule.h"

#include <gtest/gtest.h>

namespace otaswarm::loadtest {
namespace {

TEST(Schedule, ConstantRate) {
  Schedule s(1000, 0, 3, 1'000'000);
  EXPECT_EQ(s.total(), 3000u);
  EXPECT_EQ(s.due(0), 0u);
  EXPECT_EQ(s.due(1.0), 1000u);
  EXPECT_EQ(s.due(10), 3000u);
  EXPECT_EQ(s.phase_at(0.5), Phase::steady);
}

TEST(Schedule, RampIsLinear) {
  Schedule s(1000, 2, 4, 1'000'000);
  EXPECT_EQ(s.due(2), 1000u);  // half the rate on average over the ramp
  EXPECT_EQ(s.due(1), 250u);
  EXPECT_EQ(s.total(), 3000u);
  EXPECT_EQ(s.phase_at(1.9), Phase::ramp);
  EXPECT_EQ(s.phase_at(2.0), Phase::steady);
}

TEST(Schedule, TimeOfIsTheInverseOfDue) {
  for (double ramp : {0.0, 1.5}) {
    Schedule s(777, ramp, 5, 1'000'000);
    for (uint64_t i = 0; i < s.total(); i += 37) {
      double t = s.time_of(i);
      EXPECT_GE(s.due(t), i + 1) << "ramp " << ramp << " i " << i;
      EXPECT_LE(s.due(t - 1e-6), i) << "ramp " << ramp << " i " << i;
    }
  }
}

TEST(Schedule, MaxRequestsBoundsTheRun) {
  Schedule s(1000, 0, 10, 1234);
  EXPECT_EQ(s.total(), 1234u);
  EXPECT_EQ(s.due(100), 1234u);
  EXPECT_NEAR(s.end_s(), 1.234, 1e-9);  // rates are reported over this window, not 10 s
  EXPECT_EQ(Schedule(1000, 0, 10, 1'000'000).end_s(), 10.0);
}

TEST(Schedule, SharesCoverEveryRequestOnce) {
  for (uint64_t due : {0ull, 1ull, 2ull, 3ull, 10ull, 1001ull}) {
    for (unsigned workers : {1u, 2u, 3u}) {
      uint64_t sum = 0;
      for (unsigned w = 0; w < workers; ++w) {
        uint64_t n = Schedule::share(due, w, workers);
        sum += n;
        if (n > 0) EXPECT_LT(Schedule::global_index(n - 1, w, workers), due);
      }
      EXPECT_EQ(sum, due) << "due " << due << " workers " << workers;
    }
  }
}

}  // namespace
}  // namespace otaswarm::loadtest

// Run counters: merging per-worker stats, the bounded failure-reason map, the bounded timeline.
#include "loadtest/load/stats.h"

#include <gtest/gtest.h>

namespace otaswarm::loadtest {
namespace {

TEST(RunStats, MergeAddsCountersAndKeepsTheWorstLag) {
  RunStats a, b;
  a.phases[0].offered = 10;
  a.phases[0].sent = 9;
  a.phases[0].errors[static_cast<unsigned>(ErrorKind::bad_reply)] = 2;
  a.phases[0].not_sent[static_cast<unsigned>(NotSentKind::inflight_limit)] = 1;
  a.max_lag_ns = 500;
  b.phases[0].offered = 5;
  b.phases[1].answered = 7;
  b.phases[1].timeouts = 3;
  b.max_lag_ns = 200;
  b.retries = 4;
  b.second(2'500'000'000).answered = 6;
  a.merge(b);
  EXPECT_EQ(a.phases[0].offered, 15u);
  EXPECT_EQ(a.phases[1].answered, 7u);
  EXPECT_EQ(a.max_lag_ns, 500u);
  EXPECT_EQ(a.retries, 4u);
  ASSERT_EQ(a.timeline.size(), 3u);
  EXPECT_EQ(a.timeline[2].answered, 6u);
  auto t = a.total();
  EXPECT_EQ(t.offered, 15u);
  EXPECT_EQ(t.errors_total(), 2u);
  EXPECT_EQ(t.not_sent_total(), 1u);
  EXPECT_EQ(t.timeouts, 3u);
}

TEST(RunStats, FailureReasonsAreBoundedAndTruncated) {
  RunStats s;
  for (size_t i = 0; i < kMaxFailureReasons + 5; ++i) s.note_failure("reason " + std::to_string(i));
  s.note_failure("reason 0");
  EXPECT_EQ(s.failure_reasons.size(), kMaxFailureReasons + 1);  // + "(other)"
  EXPECT_EQ(s.failure_reasons["reason 0"], 2u);
  EXPECT_EQ(s.failure_reasons["(other)"], 5u);
  RunStats t;
  t.note_failure(std::string(1000, 'x'));
  ASSERT_EQ(t.failure_reasons.size(), 1u);
  EXPECT_EQ(t.failure_reasons.begin()->first.size(), kMaxFailureReasonLength);
  RunStats m;
  for (size_t i = 0; i < kMaxFailureReasons; ++i) m.note_failure("other " + std::to_string(i));
  m.merge(s);  // the merged map stays bounded too
  EXPECT_LE(m.failure_reasons.size(), kMaxFailureReasons + 1);
  uint64_t total = 0;
  for (const auto& [k, n] : m.failure_reasons) total += n;
  EXPECT_EQ(total, kMaxFailureReasons + (kMaxFailureReasons + 6));
}

TEST(RunStats, TimelineIsBoundedWhateverTheTime) {
  RunStats s;
  s.second(-5).offered++;
  EXPECT_EQ(s.timeline.size(), 1u);
  s.second(int64_t{1} << 62).offered++;
  EXPECT_LE(s.timeline.size(), 4000u);
  EXPECT_EQ(s.timeline.back().offered, 1u);
}

TEST(Stats, KindNames) {
  EXPECT_STREQ(to_string(ErrorKind::tracker_failure), "tracker_failure");
  EXPECT_STREQ(to_string(NotSentKind::no_connection), "no_connection");
}

}  // namespace
}  // namespace otaswarm::loadtest

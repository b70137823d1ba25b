#include "loadtest/load/histogram.h"

#include <gtest/gtest.h>

namespace otaswarm::loadtest {
namespace {

TEST(LatencyHistogram, BucketsAreContiguousAndOrdered) {
  for (unsigned i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    EXPECT_EQ(LatencyHistogram::bucket_low(i) + LatencyHistogram::bucket_width(i), LatencyHistogram::bucket_low(i + 1))
        << "bucket " << i;
  }
}

TEST(LatencyHistogram, ValueFallsInItsBucket) {
  for (uint64_t v : {0ull, 1ull, 31ull, 32ull, 33ull, 1000ull, 123456789ull, (1ull << 36) - 1}) {
    unsigned b = LatencyHistogram::bucket_of(v);
    EXPECT_LE(LatencyHistogram::bucket_low(b), v);
    EXPECT_LT(v, LatencyHistogram::bucket_low(b) + LatencyHistogram::bucket_width(b));
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(~0ull), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, PercentilesWithinBucketPrecision) {
  LatencyHistogram h;
  for (uint64_t us = 1; us <= 100000; ++us) h.record_ns(us * 1000);
  EXPECT_EQ(h.count(), 100000u);
  for (double q : {50.0, 90.0, 99.0, 99.9}) {
    double expected = q / 100 * 100000 * 1000;
    double got = static_cast<double>(h.percentile_ns(q));
    EXPECT_NEAR(got, expected, expected / 32) << "p" << q;
  }
  EXPECT_EQ(h.max_ns(), 100000u * 1000);
  EXPECT_LE(h.percentile_ns(100), h.max_ns());
}

TEST(LatencyHistogram, EmptyAndMerge) {
  LatencyHistogram a, b;
  EXPECT_EQ(a.percentile_ns(99), 0u);
  a.record_ns(1000);
  b.record_ns(5'000'000);
  b.record_ns(5'000'000);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max_ns(), 5'000'000u);
  EXPECT_LT(a.percentile_ns(33), 2000u);
  EXPECT_GT(a.percentile_ns(50), 4'800'000u);
}

}  // namespace
}  // namespace otaswarm::loadtest

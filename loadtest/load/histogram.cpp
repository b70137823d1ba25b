#include "loadtest/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace otaswarm::loadtest {

unsigned LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < kSubBuckets) return static_cast<unsigned>(ns);
  unsigned exponent = 63 - static_cast<unsigned>(std::countl_zero(ns));
  if (exponent > kMaxExponent) return kBuckets - 1;
  unsigned sub = static_cast<unsigned>((ns >> (exponent - kSubBucketBits)) & (kSubBuckets - 1));
  return (exponent - kSubBucketBits + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::bucket_low(unsigned index) {
  if (index < kSubBuckets) return index;
  unsigned exponent = index / kSubBuckets + kSubBucketBits - 1;
  uint64_t sub = index % kSubBuckets;
  return (kSubBuckets + sub) << (exponent - kSubBucketBits);
}

uint64_t LatencyHistogram::bucket_width(unsigned index) {
  if (index < kSubBuckets) return 1;
  unsigned exponent = index / kSubBuckets + kSubBucketBits - 1;
  return uint64_t{1} << (exponent - kSubBucketBits);
}

void LatencyHistogram::record_ns(uint64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (unsigned i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::percentile_ns(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 100.0);
  // Rank of the sample holding the percentile, 1-based (nearest-rank definition).
  uint64_t rank = static_cast<uint64_t>(std::ceil(q / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (unsigned i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(bucket_low(i) + bucket_width(i) / 2, max_);
  }
  return max_;
}

}  // namespace otaswarm::loadtest

#pragma once
// Latency histogram with log-linear buckets (32 per power of two, so a reported
// percentile is within ~3% of the true value); fixed size, mergeable, no allocation per sample.
#include <array>
#include <cstdint>

namespace otaswarm::loadtest {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBucketBits = 5;
  static constexpr unsigned kSubBuckets = 1u << kSubBucketBits;
  // Values above 2^kMaxExponent ns (~68 s) land in the last bucket; no request lives that long.
  static constexpr unsigned kMaxExponent = 36;
  static constexpr unsigned kBuckets = (kMaxExponent - kSubBucketBits + 2) * kSubBuckets;

  void record_ns(uint64_t ns);
  void merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  uint64_t max_ns() const { return max_; }
  // q in [0, 100]; returns the midpoint of the bucket holding the q-th percentile (0 when empty).
  uint64_t percentile_ns(double q) const;

  static unsigned bucket_of(uint64_t ns);
  static uint64_t bucket_low(unsigned index);
  static uint64_t bucket_width(unsigned index);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace otaswarm::loadtest

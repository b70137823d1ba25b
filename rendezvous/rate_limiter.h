#pragma once
// Token-bucket rate limiter keyed by text (an address or a device id). Not thread-safe:
// each I/O thread owns its own, so the hot path takes no lock. The table of keys is bounded
// (spoofed floods with random sources cannot grow it) by evicting the stalest entries.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace otaswarm::rendezvous {

struct RateLimit {
  double per_second = 0;  // <= 0: unlimited
  double burst = 0;
};

class RateLimiter {
 public:
  RateLimiter(RateLimit limit, size_t max_keys, const Clock& clock) : limit_(limit), max_keys_(max_keys), clock_(clock) {}
  // Takes one token for `key`; false when the key is over its rate.
  bool allow(const std::string& key);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  void evict(int64_t now);
  RateLimit limit_;
  size_t max_keys_;
  const Clock& clock_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace otaswarm::rendezvous

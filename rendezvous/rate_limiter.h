#pragma once
// Token-bucket rate limiter keyed by text (an address or a device id), shared by all I/O
// threads so a limit holds however a client's requests spread over sockets and threads.
// Keys hash to one of kShards shards, each with its own mutex and bounded table, so threads
// contend only when they hit the same shard. The table of keys is bounded (spoofed floods
// with random sources cannot grow it) by evicting the stalest entries of the full shard.
#include <array>
#include <cstdint>
#include <mutex>
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
  static constexpr size_t kShards = 16;
  // `max_keys` bounds the whole table (each shard holds at most max_keys / kShards, at least 1).
  RateLimiter(RateLimit limit, size_t max_keys, const Clock& clock);
  // Takes one token for `key`; false when the key is over its rate. Thread-safe.
  bool allow(const std::string& key);
  size_t tracked() const;

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
  };
  void evict(Shard& sh, int64_t now);
  RateLimit limit_;
  size_t max_per_shard_;
  const Clock& clock_;
  std::array<Shard, kShards> shards_;
};

}  // namespace otaswarm::rendezvous

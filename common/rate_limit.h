#pragma once
// The one keyed token bucket (per device, per source address, per release, ...), shared by all
// I/O threads so a limit holds however a client's requests spread over sockets and threads.
// Keys hash to one of kShards shards, each with its own mutex and bounded table, so threads
// contend only when they hit the same shard.
#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/net.h"

namespace otaswarm {

struct RateLimit {
  double per_second = 0;  // <= 0: unlimited
  double burst = 0;       // < 1 becomes max(1, per_second): a bucket must hold one token
};

// A new key starts with a full bucket (a burst from a fresh carrier-grade-NAT address or a
// phone that just woke up is not punished). The table is bounded: a new key in a full shard
// first drops the buckets that have refilled (they carry no information), then, if the shard is
// still nearly full, the least recently used quarter, which restart full. A full table evicts,
// so a flood of spoofed sources neither opens the door to new keys nor locks them out.
class RateLimiter {
 public:
  static constexpr size_t kShards = 32;
  // `max_keys` bounds the whole table (each shard holds at most max_keys / kShards, at least 1).
  RateLimiter(RateLimit limit, size_t max_keys, const Clock& clock);
  // Takes one token for `key`: 0 when allowed, else the seconds until a token is available.
  double take(uint64_t key);
  bool allow(uint64_t key) { return take(key) == 0; }
  // Drops the buckets that have refilled completely (housekeeping; the table stays bounded without it).
  void sweep();
  size_t size() const;
  bool enabled() const { return limit_.per_second > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t last_ms = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<uint64_t, Bucket> buckets;
  };
  void drop_refilled(Shard& sh, int64_t now) const;
  void make_room(Shard& sh, int64_t now) const;
  RateLimit limit_;
  size_t max_per_shard_;
  const Clock& clock_;
  std::array<Shard, kShards> shards_;
};

// The key of a text (device id, ...). Keys only need to spread well; a collision merely shares a bucket.
uint64_t rate_key(std::string_view text);
// The key of a source address: net::address_key (IPv4 whole, IPv6 by its /64).
using net::address_key;

}  // namespace otaswarm

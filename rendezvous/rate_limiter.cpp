#include "rendezvous/rate_limiter.h"

#include <algorithm>
#include <functional>
#include <vector>

namespace otaswarm::rendezvous {

namespace {
constexpr double kMsPerSecond = 1000.0;
}

RateLimiter::RateLimiter(RateLimit limit, size_t max_keys, const Clock& clock)
    : limit_(limit), max_per_shard_(std::max<size_t>(1, max_keys / kShards)), clock_(clock) {}

bool RateLimiter::allow(const std::string& key) {
  if (limit_.per_second <= 0) return true;
  Shard& sh = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lk(sh.mu);
  // Read under the lock: a thread that waited for the shard must not write an older time.
  int64_t now = clock_.mono_ms();
  auto it = sh.buckets.find(key);
  if (it == sh.buckets.end()) {
    if (sh.buckets.size() >= max_per_shard_) evict(sh, now);
    // A new key starts with a full bucket so a burst from a fresh CGN address is not punished.
    it = sh.buckets.emplace(key, Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = static_cast<double>(std::max<int64_t>(0, now - b.last_ms)) / kMsPerSecond;
  b.tokens = std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
  b.last_ms = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

size_t RateLimiter::tracked() const {
  size_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lk(sh.mu);
    n += sh.buckets.size();
  }
  return n;
}

void RateLimiter::evict(Shard& sh, int64_t now) {
  // First drop every bucket that has refilled completely (it carries no information).
  double full_after_ms = limit_.burst / limit_.per_second * kMsPerSecond;
  auto& buckets = sh.buckets;
  for (auto it = buckets.begin(); it != buckets.end();) {
    if (static_cast<double>(now - it->second.last_ms) >= full_after_ms) it = buckets.erase(it);
    else ++it;
  }
  if (buckets.size() < max_per_shard_) return;
  // Still full (a flood of distinct sources): forget the oldest half; they restart with a full bucket.
  std::vector<int64_t> ages;
  ages.reserve(buckets.size());
  for (auto& [k, b] : buckets) ages.push_back(b.last_ms);
  auto mid = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
  std::nth_element(ages.begin(), mid, ages.end());
  int64_t cutoff = *mid;
  for (auto it = buckets.begin(); it != buckets.end();) {
    if (it->second.last_ms <= cutoff) it = buckets.erase(it);
    else ++it;
  }
}

}  // namespace otaswarm::rendezvous

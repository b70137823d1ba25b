#include "rendezvous/rate_limiter.h"

#include <algorithm>
#include <vector>

namespace otaswarm::rendezvous {

namespace {
constexpr double kMsPerSecond = 1000.0;
}

bool RateLimiter::allow(const std::string& key) {
  if (limit_.per_second <= 0) return true;
  int64_t now = clock_.mono_ms();
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) evict(now);
    // A new key starts with a full bucket so a burst from a fresh CGN address is not punished.
    it = buckets_.emplace(key, Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = static_cast<double>(now - b.last_ms) / kMsPerSecond;
  b.tokens = std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
  b.last_ms = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void RateLimiter::evict(int64_t now) {
  // First drop every bucket that has refilled completely (it carries no information).
  double full_after_ms = limit_.burst / limit_.per_second * kMsPerSecond;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (static_cast<double>(now - it->second.last_ms) >= full_after_ms) it = buckets_.erase(it);
    else ++it;
  }
  if (buckets_.size() < max_keys_) return;
  // Still full (a flood of distinct sources): forget the oldest half; they restart with a full bucket.
  std::vector<int64_t> ages;
  ages.reserve(buckets_.size());
  for (auto& [k, b] : buckets_) ages.push_back(b.last_ms);
  auto mid = ages.begin() + static_cast<std::ptrdiff_t>(ages.size() / 2);
  std::nth_element(ages.begin(), mid, ages.end());
  int64_t cutoff = *mid;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (it->second.last_ms <= cutoff) it = buckets_.erase(it);
    else ++it;
  }
}

}  // namespace otaswarm::rendezvous

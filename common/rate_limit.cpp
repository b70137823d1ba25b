#include "common/rate_limit.h"

#include <algorithm>
#include <vector>

namespace otaswarm {

namespace {
constexpr double kMsPerSecond = 1000.0;

// Address keys are structured numbers (IPv4 addresses, IPv6 /64 prefixes); mix before
// picking a shard so keys spread over all of them.
size_t shard_of(uint64_t key) {
  key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64 finaliser
  key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<size_t>((key ^ (key >> 31)) % RateLimiter::kShards);
}
}  // namespace

RateLimiter::RateLimiter(RateLimit limit, size_t max_keys, const Clock& clock)
    : limit_(limit), max_per_shard_(std::max<size_t>(1, max_keys / kShards)), clock_(clock) {
  if (limit_.burst < 1) limit_.burst = std::max(1.0, limit_.per_second);
}

double RateLimiter::take(uint64_t key) {
  if (!enabled()) return 0;
  Shard& sh = shards_[shard_of(key)];
  std::lock_guard lk(sh.mu);
  // Read under the lock: a thread that waited for the shard must not write an older time.
  int64_t now = clock_.mono_ms();
  auto it = sh.buckets.find(key);
  if (it == sh.buckets.end()) {
    if (sh.buckets.size() >= max_per_shard_) make_room(sh, now);
    it = sh.buckets.emplace(key, Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = static_cast<double>(std::max<int64_t>(0, now - b.last_ms)) / kMsPerSecond;
  b.tokens = std::min(limit_.burst, b.tokens + elapsed * limit_.per_second);
  b.last_ms = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / limit_.per_second;
}

void RateLimiter::drop_refilled(Shard& sh, int64_t now) const {
  for (auto it = sh.buckets.begin(); it != sh.buckets.end();) {
    double elapsed = static_cast<double>(std::max<int64_t>(0, now - it->second.last_ms)) / kMsPerSecond;
    if (it->second.tokens + elapsed * limit_.per_second >= limit_.burst) it = sh.buckets.erase(it);
    else ++it;
  }
}

void RateLimiter::make_room(Shard& sh, int64_t now) const {
  drop_refilled(sh, now);
  auto& buckets = sh.buckets;
  // Still nearly full (a flood of distinct sources): forget the least recently used until a
  // quarter of the shard is free (so the scans cost O(1) per new key). Evicting rather than
  // admitting unknown keys unchecked (an open door) or refusing them (locking out the phones
  // that arrive during the flood) keeps the limit on every key seen recently.
  size_t keep = max_per_shard_ - max_per_shard_ / 4 - 1;
  if (buckets.size() <= keep) return;
  std::vector<std::pair<int64_t, uint64_t>> by_age;
  by_age.reserve(buckets.size());
  for (const auto& [k, b] : buckets) by_age.emplace_back(b.last_ms, k);
  auto cut = by_age.begin() + static_cast<std::ptrdiff_t>(buckets.size() - keep);
  std::nth_element(by_age.begin(), cut, by_age.end());
  for (auto it = by_age.begin(); it != cut; ++it) buckets.erase(it->second);
}

void RateLimiter::sweep() {
  if (!enabled()) return;
  for (auto& sh : shards_) {
    std::lock_guard lk(sh.mu);
    drop_refilled(sh, clock_.mono_ms());
  }
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (const auto& sh : shards_) {
    std::lock_guard lk(sh.mu);
    n += sh.buckets.size();
  }
  return n;
}

uint64_t rate_key(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace otaswarm

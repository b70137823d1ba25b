#include "common/rate_limit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace otaswarm {
namespace {

bool allow(RateLimiter& rl, const std::string& key) { return rl.allow(rate_key(key)); }

TEST(RateLimiter, BurstThenRefill) {
  ManualClock clock;
  RateLimiter rl({10, 5}, 100, clock);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(allow(rl, "a"));
  EXPECT_FALSE(allow(rl, "a"));
  EXPECT_TRUE(allow(rl, "b"));  // keys are independent
  clock.advance_ms(100);        // 10/s → one token
  EXPECT_TRUE(allow(rl, "a"));
  EXPECT_FALSE(allow(rl, "a"));
}

TEST(RateLimiter, NewKeyStartsWithAFullBucket) {
  ManualClock clock;
  RateLimiter rl({1.0 / 15, 8}, 1000, clock);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rl.take(7), 0) << i;
  EXPECT_NEAR(rl.take(7), 15.0, 1e-9);  // the wait until the next token
  clock.advance_seconds(5);
  EXPECT_NEAR(rl.take(7), 10.0, 1e-6);
}

TEST(RateLimiter, BurstBelowOneHoldsOneToken) {
  ManualClock clock;
  RateLimiter rl({0.5, 0}, 100, clock);
  EXPECT_EQ(rl.take(1), 0);
  EXPECT_NEAR(rl.take(1), 2.0, 1e-9);
}

TEST(RateLimiter, UnlimitedWhenRateIsZero) {
  ManualClock clock;
  RateLimiter rl({0, 0}, 10, clock);
  EXPECT_FALSE(rl.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(rl.allow(static_cast<uint64_t>(i)));
  EXPECT_EQ(rl.size(), 0u);
}

TEST(RateLimiter, BoundedTableUnderSpoofedFlood) {
  ManualClock clock;
  RateLimiter rl({1, 1}, 64, clock);
  for (int i = 0; i < 10'000; ++i) {
    allow(rl, "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
    EXPECT_LE(rl.size(), 64u);
  }
}

TEST(RateLimiter, FullTableEvictsTheIdleNotTheRecentlyLimited) {
  // A flood of new sources fills the table: every stranger is still limited (no open door,
  // no lock-out), and a noisy key seen more recently than the flood's oldest stays limited.
  ManualClock clock;
  constexpr size_t kKeys = 32 * 64;
  RateLimiter rl({0.1, 2}, kKeys, clock);
  for (uint64_t k = 0; k < kKeys; ++k) rl.take(1000 + k);  // the table fills
  clock.advance_ms(10);
  EXPECT_TRUE(rl.allow(1));
  EXPECT_TRUE(rl.allow(1));
  EXPECT_FALSE(rl.allow(1));  // the noisy key is out of tokens
  for (uint64_t k = 0; k < kKeys / 2; ++k) {  // each shard evicts its oldest at least once
    clock.advance_ms(1);
    EXPECT_TRUE(rl.allow(100'000 + k));   // a stranger gets its burst ...
    EXPECT_TRUE(rl.allow(100'000 + k));
    EXPECT_FALSE(rl.allow(100'000 + k));  // ... and then its limit
    EXPECT_LE(rl.size(), kKeys);
  }
  EXPECT_FALSE(rl.allow(1));  // ~1 s later, not yet refilled: still tracked, still limited
}

TEST(RateLimiter, SweepDropsRefilledBuckets) {
  ManualClock clock;
  RateLimiter rl({1, 4}, 1000, clock);
  rl.take(1);
  for (int i = 0; i < 4; ++i) rl.take(2);
  clock.advance_ms(1000);  // key 1 is full again, key 2 has one token of four
  rl.sweep();
  EXPECT_EQ(rl.size(), 1u);
  EXPECT_TRUE(rl.allow(2));
  EXPECT_FALSE(rl.allow(2));
}

TEST(RateLimiter, CarrierGradeNatAddressNotLockedOut) {
  // Thousands of phones behind one address: a CGN-sized per-address limit lets them through,
  // while the per-device limit stops one noisy device.
  ManualClock clock;
  RateLimiter per_address({2000, 4000}, 1000, clock), per_device({5, 20}, 1000, clock);
  auto cgn = address_key(*net::parse_address("100.64.0.1"));
  int admitted = 0;
  for (int phone = 0; phone < 3000; ++phone)
    if (per_address.allow(cgn) && allow(per_device, "phone-" + std::to_string(phone))) ++admitted;
  EXPECT_EQ(admitted, 3000);
  int noisy = 0;
  for (int i = 0; i < 100; ++i) noisy += allow(per_device, "phone-noisy") ? 1 : 0;
  EXPECT_EQ(noisy, 20);
}

TEST(RateLimiter, LimitHoldsAcrossThreads) {
  // A device spreading its requests over sockets served by different threads gets its limit
  // once, not once per thread: the clock stands still, so exactly `burst` requests pass.
  ManualClock clock;
  RateLimiter rl({5, 20}, 1000, clock);
  constexpr int kThreads = 4, kPerThread = 2000;
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (allow(rl, "phone-noisy")) allowed.fetch_add(1);
        allow(rl, "other-" + std::to_string(t) + "-" + std::to_string(i % 50));  // other shards, other keys
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(allowed.load(), 20);
}

TEST(RateLimiter, BurstHoldsAcrossThreadsForEveryKey) {
  // The clock stands still: however the takes interleave, exactly `burst` pass per key.
  ManualClock clock;
  RateLimiter b({1, 8}, 1000, clock);
  constexpr int kThreads = 4, kKeys = 64, kRounds = 50;
  std::atomic<int> allowed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r)
        for (uint64_t k = 0; k < kKeys; ++k)
          if (b.take(k) == 0) allowed.fetch_add(1);
    });
  for (auto& th : ts) th.join();
  EXPECT_EQ(allowed.load(), kKeys * 8);
  EXPECT_EQ(b.size(), static_cast<size_t>(kKeys));
}

TEST(RateLimiter, BoundedTableUnderConcurrentFlood) {
  ManualClock clock;
  RateLimiter rl({1, 1}, 256, clock);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) allow(rl, "10." + std::to_string(t) + "." + std::to_string(i));
    });
  for (auto& th : ts) th.join();
  EXPECT_LE(rl.size(), 256u);
}

TEST(AddressKey, Ipv6ByItsSlash64AndMappedIpv4AsIpv4) {
  auto key = [](const char* a) { return address_key(*net::parse_address(a)); };
  EXPECT_EQ(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));  // one subscriber line
  EXPECT_NE(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
  EXPECT_EQ(key("::ffff:192.0.2.7"), key("192.0.2.7"));
  EXPECT_NE(key("192.0.2.7"), key("192.0.2.8"));
}

TEST(RateKey, DistinctTextsDistinctKeys) {
  EXPECT_EQ(rate_key("phone-1"), rate_key("phone-1"));
  EXPECT_NE(rate_key("phone-1"), rate_key("phone-2"));
}

}  // namespace
}  // namespace otaswarm

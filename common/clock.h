#pragma once
// Injectable clock so expiry, rate-limit and token tests are deterministic.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace otaswarm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch (token expiry, connection-ID slots).
  virtual int64_t unix_seconds() const = 0;
  // Monotonic milliseconds (peer expiry, rate limits).
  virtual int64_t mono_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t unix_seconds() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t mono_ms() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static const SystemClock& instance() {
    static SystemClock c;
    return c;
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_start = 1'700'000'000) : unix_(unix_start), mono_(1'000'000) {}
  int64_t unix_seconds() const override { return unix_.load(); }
  int64_t mono_ms() const override { return mono_.load(); }
  void advance_seconds(int64_t s) {
    unix_ += s;
    mono_ += s * 1000;
  }
  void advance_ms(int64_t ms) {
    mono_ += ms;
    unix_ = unix_.load() + 0;  // unix time moves in whole seconds via advance_seconds
  }

 private:
  std::atomic<int64_t> unix_, mono_;
};

}  // namespace otaswarm

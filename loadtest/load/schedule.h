#pragma once
// Open-loop request schedule: the target rate ramps linearly from 0 to `rate` over `ramp_s`,
// then holds until `duration_s`. Request i is due at a fixed time whatever the replies do,
// so an overloaded server shows up as latency and timeouts, not as a slower generator.
#include <cstdint>

namespace otaswarm::loadtest {

enum class Phase : uint8_t { ramp = 0, steady = 1 };
inline constexpr unsigned kPhases = 2;
const char* to_string(Phase p);

class Schedule {
 public:
  Schedule(double rate, double ramp_s, double duration_s, uint64_t max_requests);

  // Requests due by `t` seconds after the start (all workers together).
  uint64_t due(double t) const;
  // Seconds after the start at which request `index` (0-based) is due.
  double time_of(uint64_t index) const;
  Phase phase_at(double t) const { return t < ramp_s_ ? Phase::ramp : Phase::steady; }
  uint64_t total() const { return total_; }
  // When sending ends: --duration, or earlier when --max-requests cut the schedule short.
  double end_s() const;
  double rate() const { return rate_; }
  double ramp_s() const { return ramp_s_; }
  double duration_s() const { return duration_s_; }

  // Worker `w` of `workers` takes the requests whose index ≡ w (mod workers).
  static uint64_t share(uint64_t due, unsigned worker, unsigned workers);
  static uint64_t global_index(uint64_t local, unsigned worker, unsigned workers) {
    return local * workers + worker;
  }

 private:
  double cumulative(double t) const;
  double rate_, ramp_s_, duration_s_;
  uint64_t max_requests_, total_;
};

}  // namespace otaswarm::loadtest

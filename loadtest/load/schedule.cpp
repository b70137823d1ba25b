#include "loadtest/load/schedule.h"

#include <algorithm>
#include <cmath>

namespace otaswarm::loadtest {

const char* to_string(Phase p) { return p == Phase::ramp ? "ramp" : "steady"; }

Schedule::Schedule(double rate, double ramp_s, double duration_s, uint64_t max_requests)
    : rate_(rate), ramp_s_(std::min(ramp_s, duration_s)), duration_s_(duration_s), max_requests_(max_requests) {
  total_ = std::min<uint64_t>(max_requests_, static_cast<uint64_t>(std::floor(cumulative(duration_s_) + 1e-9)));
}

double Schedule::cumulative(double t) const {
  t = std::clamp(t, 0.0, duration_s_);
  if (ramp_s_ <= 0) return rate_ * t;
  if (t < ramp_s_) return rate_ * t * t / (2 * ramp_s_);
  return rate_ * ramp_s_ / 2 + rate_ * (t - ramp_s_);
}

uint64_t Schedule::due(double t) const {
  // The small epsilon keeps request i due exactly at time_of(i) despite rounding.
  return std::min<uint64_t>(total_, static_cast<uint64_t>(std::floor(cumulative(t) + 1e-9)));
}

double Schedule::time_of(uint64_t index) const {
  double n = static_cast<double>(index + 1);
  if (rate_ <= 0) return duration_s_;
  double ramp_count = rate_ * ramp_s_ / 2;
  if (ramp_s_ > 0 && n <= ramp_count) return std::sqrt(2 * ramp_s_ * n / rate_);
  return ramp_s_ + (n - ramp_count) / rate_;
}

double Schedule::end_s() const {
  auto natural = static_cast<uint64_t>(std::floor(cumulative(duration_s_) + 1e-9));
  if (total_ >= natural) return duration_s_;
  return total_ == 0 ? 0.0 : time_of(total_ - 1);
}

uint64_t Schedule::share(uint64_t due, unsigned worker, unsigned workers) {
  return due > worker ? (due - worker - 1) / workers + 1 : 0;
}

}  // namespace otaswarm::loadtest

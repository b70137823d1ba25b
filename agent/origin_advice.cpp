#include "agent/origin_advice.h"

#include <algorithm>

namespace otaswarm::agent {

namespace {
constexpr int64_t kMsPerS = 1000;
}

const char* to_string(OriginWhy w) {
  switch (w) {
    case OriginWhy::granted: return "granted";
    case OriginWhy::starved: return "starved";
    case OriginWhy::peers_first: return "peers_first";
  }
  return "?";
}

// A fresh device has no peers yet: the valve's clock starts at construction.
OriginAdvisor::OriginAdvisor(const Clock& clock, OriginValve defaults)
    : clock_(clock), valve_(defaults), below_since_ms_(clock.mono_ms()) {}

void OriginAdvisor::on_advice(const udp::OriginTrailer& a) {
  advice_ = a;
  advice_ms_ = clock_.mono_ms();
  valve_.floor = a.starvation_floor;
  valve_.delay_s = a.starvation_delay_s;
  if (a.recheck_s) valve_.recheck_s = a.recheck_s;
}

void OriginAdvisor::on_peer_rate(double bytes_per_second) {
  peer_rate_ = std::max(0.0, bytes_per_second);
  if (peer_rate_ >= static_cast<double>(valve_.floor)) {
    below_since_ms_ = -1;
  } else if (below_since_ms_ < 0) {
    below_since_ms_ = clock_.mono_ms();
  }
}

bool OriginAdvisor::advice_fresh() const {
  return advice_ &&
         clock_.mono_ms() - advice_ms_ <= int64_t{valve_.stale_rechecks} * std::max<uint32_t>(1, valve_.recheck_s) * kMsPerS;
}

OriginDecision OriginAdvisor::decide() const {
  const bool starved = below_since_ms_ >= 0 && clock_.mono_ms() - below_since_ms_ >= int64_t{valve_.delay_s} * kMsPerS;
  // Topping the peer rate up to the floor: what the valve asks of the origin.
  const uint64_t topup = static_cast<uint64_t>(std::max(0.0, static_cast<double>(valve_.floor) - peer_rate_));
  OriginDecision d;
  if (advice_fresh() && advice_->grant) {
    d.webseed = true;
    d.why = OriginWhy::granted;
    d.rate = advice_->rate == 0 ? 0 : std::max<uint64_t>(advice_->rate, starved ? topup : 0);
    return d;
  }
  // No grant, or no recent word from the tracker: the local valve decides.
  d.webseed = starved && topup > 0;
  d.why = d.webseed ? OriginWhy::starved : OriginWhy::peers_first;
  d.rate = d.webseed ? topup : 0;
  return d;
}

}  // namespace otaswarm::agent

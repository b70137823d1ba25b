#pragma once
// Origin pacing, the device's side (docs/origin-pacing.md), without sockets or libtorrent:
// whether the web seed runs now and at what rate, from the tracker's last advice (the BEP 15
// trailer or the HTTP x-otaswarm-origin key) and the peer rate the device measures. When the
// tracker says nothing for a while (unreachable, or a tracker without pacing) the device falls
// back to its local safety valve: web seed on once peers have given less than the floor for
// longer than the starvation delay. Time comes from the injected clock.
#include <cstdint>
#include <optional>

#include "common/clock.h"
#include "common/proto/bep15.h"

namespace otaswarm::agent {

struct OriginValve {
  uint64_t floor = 1'250'000;  // bytes/s (the tracker's default, until it says otherwise)
  uint32_t delay_s = 3;
  uint32_t recheck_s = 15;
  uint32_t stale_rechecks = 3;  // advice older than this many recheck periods no longer counts
};

enum class OriginWhy : uint8_t { granted, starved, peers_first };
const char* to_string(OriginWhy w);

struct OriginDecision {
  bool webseed = true;
  uint64_t rate = 0;  // bytes/s cap for the web seed; 0 = none
  OriginWhy why = OriginWhy::starved;
  bool operator==(const OriginDecision&) const = default;
};

class OriginAdvisor {
 public:
  explicit OriginAdvisor(const Clock& clock, OriginValve defaults = {});
  // A tracker reply with advice; its floor, delay and recheck replace the valve's.
  void on_advice(const udp::OriginTrailer& a);
  // The measured download rate from peers only (web seed excluded), sampled at any pace.
  void on_peer_rate(double bytes_per_second);
  OriginDecision decide() const;
  // When the device should ask the tracker again (its recheck period).
  uint32_t recheck_s() const { return valve_.recheck_s; }
  bool advice_fresh() const;

 private:
  const Clock& clock_;
  OriginValve valve_;
  std::optional<udp::OriginTrailer> advice_;
  int64_t advice_ms_ = 0;
  double peer_rate_ = 0;
  int64_t below_since_ms_;  // when the peer rate last fell under the floor
};

}  // namespace otaswarm::agent

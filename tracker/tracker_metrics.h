#pragma once
// The tracker's metric families (names: docs/metrics.md). Hot-path series are resolved
// once here so a request only does relaxed atomic increments.
#include <array>

#include "common/metrics.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

struct TrackerMetrics {
  explicit TrackerMetrics(metrics::Registry& r);

  metrics::Registry& registry;
  metrics::Family<metrics::Counter>& announces;
  metrics::Family<metrics::Counter>& scrapes;
  metrics::Counter& udp_connects;
  metrics::Family<metrics::Histogram>& duration;
  metrics::Family<metrics::Counter>& rejects;
  metrics::Family<metrics::Counter>& udp_dropped;
  // Drops are the spoofed-flood path: resolved once, so a dropped datagram is one atomic add.
  enum DropReason { kTruncated, kGarbage, kUnknownAction, kSendFailed, kSendQueueFull, kDropReasons };
  std::array<metrics::Counter*, kDropReasons> dropped{};
  metrics::Family<metrics::Counter>& http_connections;
  metrics::Counter& http_bad_requests;
  metrics::Counter& http_timeouts;
  metrics::Gauge& http_open;
  metrics::Family<metrics::Counter>& peers_returned;
  metrics::Family<metrics::Counter>& pairings;
  metrics::Gauge& interval;

  // [protocol][action] histograms: action 0 announce, 1 scrape, 2 connect.
  std::array<std::array<metrics::Histogram*, 3>, 2> latency{};
  std::array<metrics::Counter*, store::kTierCount> tier{};
  std::array<metrics::Counter*, store::kPairingCount> pairing{};
  // [protocol][event 0..4][result: ok, error, rate_limited, too_soon]
  std::array<std::array<std::array<metrics::Counter*, 4>, 5>, 2> announce_ctr{};
  metrics::Family<metrics::Counter>& admission;
  std::array<metrics::Counter*, 5> admission_ctr{};  // by Admission value
  metrics::Family<metrics::Counter>& shed;
  enum ShedReason { kShedQueueDelay, kShedQueueDelayDropped, kShedPeriodicBudget, kShedHttpQueueDelay, kShedReasons };
  std::array<metrics::Counter*, kShedReasons> shed_ctr{};
  std::array<std::array<metrics::Counter*, 2>, 2> scrape_ctr{};
  std::array<metrics::Counter*, 10> reject{};  // by Reject value
  metrics::Counter& reject_counter(uint8_t reason) { return *reject[reason < reject.size() ? reason : 0]; }
};

}  // namespace otaswarm

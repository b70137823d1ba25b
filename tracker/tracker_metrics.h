#pragma once
// The tracker's metric families (names: docs/metrics.md). Hot-path series are resolved
// once here so a request only does relaxed atomic increments.
#include <array>

#include "common/metrics.h"
#include "common/net.h"
#include "tracker/admission.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

using net::Protocol;
enum class Reject : uint8_t;    // tracker/announce.h

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

  // Label values of the hot-path series; the tables below are indexed by them.
  enum class Action : uint8_t { announce, scrape, connect };
  enum class AnnounceResult : uint8_t { ok, error, rate_limited, too_soon };
  static constexpr size_t kProtocols = 2, kActions = 3, kEvents = 5, kAnnounceResults = 4;

  metrics::Histogram& latency(Protocol p, Action a) { return *latency_[idx(p)][idx(a)]; }
  metrics::Counter& announce_counter(Protocol p, store::Event e, AnnounceResult r) {
    return *announce_[idx(p)][idx(e)][idx(r)];
  }
  metrics::Counter& scrape_counter(Protocol p, bool ok) { return *scrape_[idx(p)][ok ? 0 : 1]; }
  metrics::Counter& admission_counter(Admission a) { return *admission_ctr[idx(a)]; }
  metrics::Counter& reject_counter(Reject r) { return *reject[idx(r) < reject.size() ? idx(r) : 0]; }

  std::array<metrics::Counter*, store::kTierCount> tier{};
  std::array<metrics::Counter*, store::kPairingCount> pairing{};
  metrics::Family<metrics::Counter>& admission;
  std::array<metrics::Counter*, 5> admission_ctr{};  // by Admission
  metrics::Family<metrics::Counter>& shed;
  enum ShedReason { kShedQueueDelay, kShedQueueDelayDropped, kShedPeriodicBudget, kShedHttpQueueDelay, kShedReasons };
  std::array<metrics::Counter*, kShedReasons> shed_ctr{};
  std::array<metrics::Counter*, 10> reject{};  // by Reject

 private:
  template <class E>
  static constexpr size_t idx(E e) { return static_cast<size_t>(e); }
  std::array<std::array<metrics::Histogram*, kActions>, kProtocols> latency_{};
  std::array<std::array<std::array<metrics::Counter*, kAnnounceResults>, kEvents>, kProtocols> announce_{};
  std::array<std::array<metrics::Counter*, 2>, kProtocols> scrape_{};  // [protocol][ok, error]
};

}  // namespace otaswarm

#pragma once
// Rendezvous metric families (docs/metrics.md, rendezvous section), created once per process.
#include <string>

#include "common/metrics.h"

namespace otaswarm::rendezvous {

struct Metrics {
  explicit Metrics(metrics::Registry& r);
  metrics::Family<metrics::Counter>& stun_requests;      // transport, result
  metrics::Family<metrics::Counter>& stun_dropped;       // reason
  metrics::Family<metrics::Counter>& connect_requests;   // result
  metrics::Family<metrics::Counter>& pair_decisions;     // decision
  metrics::Family<metrics::Counter>& turn_credentials;   // result
  metrics::Family<metrics::Counter>& relay_budget_exhausted;  // info_hash
  metrics::Family<metrics::Counter>& nat_tickets;        // class
  metrics::Family<metrics::Counter>& relay_releases;     // result: released, not_held
  metrics::Counter& registrations;                       // RDV-REGISTER accepted (new or refresh)
};

}  // namespace otaswarm::rendezvous

#include "rendezvous/metrics.h"

namespace otaswarm::rendezvous {

Metrics::Metrics(metrics::Registry& r)
    : stun_requests(r.counter("otaswarm_rendezvous_stun_requests_total", "STUN requests", {"transport", "result"})),
      stun_dropped(r.counter("otaswarm_rendezvous_stun_dropped_total", "STUN datagrams dropped", {"reason"})),
      connect_requests(r.counter("otaswarm_rendezvous_connect_requests_total", "Connect requests", {"result"})),
      pair_decisions(
          r.counter("otaswarm_rendezvous_pair_decisions_total", "Compatibility-matrix outcomes", {"decision"})),
      turn_credentials(r.counter("otaswarm_rendezvous_turn_credentials_total", "TURN credentials", {"result"})),
      relay_budget_exhausted(r.counter("otaswarm_rendezvous_relay_budget_exhausted_total",
                                       "Relay requests refused for budget", {"info_hash"})),
      nat_tickets(r.counter("otaswarm_rendezvous_nat_tickets_total", "NAT tickets issued", {"class"})),
      relay_releases(r.counter("otaswarm_rendezvous_relay_releases_total",
                               "RDV-RELEASE requests: relay slots freed by the device", {"result"})),
      registrations(r.counter("otaswarm_rendezvous_registrations_total",
                              "Registrations accepted (first ones and refreshes)")
                        .with({})) {}

}  // namespace otaswarm::rendezvous

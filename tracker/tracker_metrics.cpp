#include "tracker/tracker_metrics.h"

#include "tracker/announce.h"

namespace otaswarm {

TrackerMetrics::TrackerMetrics(metrics::Registry& r)
    : registry(r),
      announces(r.counter("otaswarm_tracker_announces_total", "Announces answered.", {"protocol", "event", "result"})),
      scrapes(r.counter("otaswarm_tracker_scrapes_total", "Scrapes answered.", {"protocol", "result"})),
      udp_connects(r.counter("otaswarm_tracker_udp_connects_total", "BEP 15 connect requests answered.").get()),
      duration(r.histogram("otaswarm_tracker_request_duration_seconds",
                           "Time from request decoded to reply built.", {"protocol", "action"},
                           metrics::latency_buckets())),
      rejects(r.counter("otaswarm_tracker_rejects_total", "Refused requests, by reason.", {"reason"})),
      udp_dropped(r.counter("otaswarm_tracker_udp_dropped_total", "UDP datagrams dropped without reply.", {"reason"})),
      http_connections(r.counter("otaswarm_tracker_http_connections_total", "TCP connections.", {"result"})),
      http_bad_requests(
          r.counter("otaswarm_tracker_http_bad_requests_total", "Unparsable or oversized HTTP requests.").get()),
      http_timeouts(r.counter("otaswarm_tracker_http_timeouts_total", "Slow HTTP clients cut off.").get()),
      http_open(r.gauge("otaswarm_tracker_http_open_connections", "Open HTTP connections.").get()),
      peers_returned(r.counter("otaswarm_tracker_peers_returned_total", "Peers handed out, by locality tier.",
                               {"tier"})),
      pairings(r.counter("otaswarm_tracker_reachability_pairs_total",
                         "Handed-out peers by how the requester can reach them.", {"pairing"})),
      interval(r.gauge("otaswarm_tracker_interval_seconds", "Announce interval currently handed out.").get()),
      admission(r.counter("otaswarm_tracker_admission_total", "Admission-control decisions.", {"decision"})),
      shed(r.counter("otaswarm_tracker_announces_shed_total",
                     "Announces answered with the cheap busy reply (retry hint) instead of being handled.",
                     {"reason"})) {
  const char* protos[kProtocols] = {to_string(static_cast<Protocol>(0)), to_string(static_cast<Protocol>(1))};
  const char* actions[kActions] = {"announce", "scrape", "connect"};
  for (size_t p = 0; p < kProtocols; ++p)
    for (size_t a = 0; a < kActions; ++a) latency_[p][a] = &duration.with({protos[p], actions[a]});
  for (size_t t = 0; t < store::kTierCount; ++t)
    tier[t] = &peers_returned.with({store::to_string(static_cast<store::Tier>(t))});
  for (size_t p = 0; p < store::kPairingCount; ++p)
    pairing[p] = &pairings.with({store::to_string(static_cast<store::Pairing>(p))});
  const char* events[kEvents] = {"none", "completed", "started", "stopped", "paused"};  // store::Event order
  const char* results[kAnnounceResults] = {"ok", "error", "rate_limited", "too_soon"};  // AnnounceResult order
  for (size_t p = 0; p < kProtocols; ++p) {
    for (size_t e = 0; e < kEvents; ++e)
      for (size_t r = 0; r < kAnnounceResults; ++r) announce_[p][e][r] = &announces.with({protos[p], events[e], results[r]});
    for (size_t ok = 0; ok < 2; ++ok) scrape_[p][ok] = &scrapes.with({protos[p], results[ok]});
  }
  const char* drop_reasons[] = {"truncated", "garbage", "unknown_action", "send_failed",
                                "send_queue_full"};
  for (size_t i = 0; i < dropped.size(); ++i) dropped[i] = &udp_dropped.with({drop_reasons[i]});
  for (size_t i = 0; i < admission_ctr.size(); ++i) admission_ctr[i] = &admission.with({to_string(static_cast<Admission>(i))});
  const char* shed_reasons[] = {"queue_delay", "queue_delay_dropped", "periodic_budget", "http_queue_delay"};
  for (size_t i = 0; i < shed_ctr.size(); ++i) shed_ctr[i] = &shed.with({shed_reasons[i]});
  // Reject::none is never counted as such: reject_counter() files out-of-range values under it as "other".
  for (size_t i = 0; i < reject.size(); ++i)
    reject[i] = &rejects.with({i == 0 ? "other" : to_string(static_cast<Reject>(i))});
}

}  // namespace otaswarm

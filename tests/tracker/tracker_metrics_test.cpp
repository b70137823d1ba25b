// The hot-path series tables: every enum value an accessor takes lands in the series whose
// labels name it (the tables are indexed by enum order, so a reordered enum must fail here).
#include "tracker/tracker_metrics.h"

#include <gtest/gtest.h>

#include "tracker/announce.h"

namespace otaswarm {
namespace {

bool has_sample(const metrics::Registry& r, const std::string& series_with_value) {
  return r.expose().find("\n" + series_with_value + "\n") != std::string::npos;
}

TEST(TrackerMetrics, AnnounceCountersByProtocolEventResult) {
  metrics::Registry r;
  TrackerMetrics m(r);
  m.announce_counter(Protocol::udp, store::Event::started, TrackerMetrics::AnnounceResult::rate_limited).inc();
  m.announce_counter(Protocol::http, store::Event::completed, TrackerMetrics::AnnounceResult::ok).inc(2);
  m.announce_counter(Protocol::http, store::Event::paused, TrackerMetrics::AnnounceResult::too_soon).inc(3);
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_announces_total{protocol="udp",event="started",result="rate_limited"} 1)"))
      << r.expose();
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_announces_total{protocol="http",event="completed",result="ok"} 2)"));
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_announces_total{protocol="http",event="paused",result="too_soon"} 3)"));
  m.scrape_counter(Protocol::udp, false).inc();
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_scrapes_total{protocol="udp",result="error"} 1)"));
  m.latency(Protocol::udp, TrackerMetrics::Action::connect).observe(0.0001);
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_request_duration_seconds_count{protocol="udp",action="connect"} 1)"));
}

TEST(TrackerMetrics, AdmissionAndRejectSeriesAreNamedByTheirEnum) {
  metrics::Registry r;
  TrackerMetrics m(r);
  for (auto a : {Admission::admitted, Admission::device_limited, Admission::address_limited, Admission::swarm_limited,
                 Admission::shed}) {
    m.admission_counter(a).inc();
    EXPECT_TRUE(has_sample(r, std::string("otaswarm_tracker_admission_total{decision=\"") + to_string(a) + "\"} 1"))
        << to_string(a);
  }
  for (auto j : {Reject::malformed_token, Reject::bad_signature, Reject::expired_token, Reject::unknown_info_hash,
                 Reject::bad_request, Reject::bad_connection_id, Reject::store_unavailable, Reject::overloaded,
                 Reject::rate_limited}) {
    m.reject_counter(j).inc();
    EXPECT_TRUE(has_sample(r, std::string("otaswarm_tracker_rejects_total{reason=\"") + to_string(j) + "\"} 1"))
        << to_string(j);
  }
  m.reject_counter(static_cast<Reject>(200)).inc();  // out of range: counted, not a crash
  EXPECT_TRUE(has_sample(r, R"(otaswarm_tracker_rejects_total{reason="other"} 1)"));
}

}  // namespace
}  // namespace otaswarm

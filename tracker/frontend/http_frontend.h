#pragma once
// HTTP announce/scrape front end: maps Beast requests to the AnnounceHandler.
#include <functional>

#include "common/http/server.h"
#include "tracker/admission.h"
#include "tracker/announce.h"

namespace otaswarm {

// Overload shedding of HTTP announces: returns the calling I/O thread's gate (nullptr: never shed).
// A shed announce gets a bencoded "tracker busy" failure with BEP 31 "retry in" after its query is
// parsed, before any token, admission or store work. Scrapes are never shed.
inline constexpr double kHttpBusyUnbounded = 1e12;  // ShedConfig::busy_per_answer for HTTP gates

struct HttpShedding {
  std::function<QueueDelayGate*()> gate;
  uint32_t retry_s = 60;  // scaled by the admission interval factor
};

http::Handler make_tracker_http_handler(const AnnounceHandler& handler, HttpShedding shedding = {});

}  // namespace otaswarm

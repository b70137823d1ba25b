#pragma once
// Admin API (releases, tokens), /status.json and the status page on the admin listener.
#include <chrono>
#include <string>

#include "common/http/server.h"
#include "tracker/store/swarm_store.h"
#include "common/proto/token.h"
#include "tracker/release_registry.h"
#include "tracker/tracker_metrics.h"

namespace otaswarm {

struct AdminContext {
  ReleaseRegistry* registry = nullptr;
  store::SwarmStore* store = nullptr;
  token::KeyRing token_keys;  // to mint device tokens via POST /api/v1/tokens
  const Clock* clock = &SystemClock::instance();
  TrackerMetrics* metrics = nullptr;
  const class AdmissionController* admission = nullptr;
  OriginPlanner* origin = nullptr;  // grants shown in the release view and /metrics  // load estimate for the status page
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  uint32_t interval = 0;
  int64_t max_token_ttl = 90LL * 24 * 3600;
};

class AdminApi {
 public:
  explicit AdminApi(AdminContext ctx) : ctx_(std::move(ctx)) {}
  // Handles /api/v1/... (the caller has checked the bearer token).
  void handle_api(http::Request&& req, const http::ConnInfo& info, http::Done done) const;
  // GET / and GET /status.json; false when the path is not ours.
  bool handle_public(const http::Request& req, http::Response& res) const;
  std::string release_json(const Release& r) const;
  std::string status_json() const;
  // Per-release gauges for /metrics.
  void register_metrics(metrics::Registry& reg) const;

 private:
  AdminContext ctx_;
};

}  // namespace otaswarm

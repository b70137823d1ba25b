#pragma once
// Device-facing HTTP API: POST /v1/turn-credentials (Bearer device token) → coturn REST
// credentials. Pure request → response; the HTTP server moves the bytes.
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http/server.h"
#include "common/proto/token.h"
#include "common/rate_limit.h"
#include "rendezvous/metrics.h"

namespace otaswarm::rendezvous {

struct ApiConfig {
  token::KeyRing device_keys;
  std::string turn_secret;
  std::vector<std::string> turn_uris;
  int64_t turn_ttl_s = 600;
  RateLimit per_device;
  size_t max_rate_keys = 100'000;
};

class DeviceApi {
 public:
  DeviceApi(ApiConfig cfg, Metrics& m, const Clock& clock);
  http::Response handle(const http::Request& req);
  http::Handler handler();

 private:
  ApiConfig cfg_;
  Metrics& m_;
  const Clock& clock_;
  RateLimiter per_device_;  // thread-safe: shared by the HTTP threads
};

}  // namespace otaswarm::rendezvous

#pragma once
// Pieces every otaswarm server shares: the ready line, signal handling, the admin router.
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <string>

#include "common/http/server.h"
#include "common/json.h"
#include "common/metrics.h"

namespace otaswarm {

// Prints exactly one JSON line on stdout and flushes it.
void print_ready_line(const Json& listeners);

// Admin listener routing: /metrics, /healthz, /readyz are public on the admin listener
// (/readyz: 503 while degraded; /readyz?degraded=ok: 200 with the reason, for the probe);
// everything under /api/ needs "Authorization: Bearer <admin token>" (current or previous).
struct AdminRoutes {
  metrics::Registry* registry = nullptr;
  std::string admin_token;
  std::string admin_token_previous;
  std::function<bool(std::string& why)> ready;                       // /readyz
  http::Handler api;                                                 // /api/...
  std::function<bool(const http::Request&, http::Response&)> other;  // e.g. GET / status page
};
http::Handler make_admin_handler(AdminRoutes routes);

bool bearer_matches(const http::Request& req, const std::string& token, const std::string& previous);

}  // namespace otaswarm

#pragma once
// Start-up and lifecycle every otaswarm server shares: configuration helpers (log level, I/O
// threads, secret files, listen addresses), binding a listener, the ready line, signals, a
// periodic maintenance task, the admin router.
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/http/server.h"
#include "common/json.h"
#include "common/metrics.h"
#include "common/net.h"

namespace otaswarm {

// --log-level; a bad value is a ConfigError.
void apply_log_level(const config::Values& v);
// --threads: 0 means one per core.
size_t io_threads(const config::Values& v);
// The secret in the file named by `key`, or "" when the key is not set.
std::string optional_secret(const config::Values& v, const std::string& key);
// Parses the ip:port of a listen flag; a bad value is a ConfigError naming `key`.
net::HostPort listen_address(const std::string& key, const std::string& text);
// Runs `start`, which binds a listener; a failure becomes a ConfigError naming `key` (exit 2),
// prefixed with "cannot listen on <address>: " when `address` is given.
void start_listener(const std::string& key, const std::function<void()>& start, const std::string& address = {});
// A listener's ready-line value: "ip:port", or a list when the flag was given several times.
Json listener_json(const std::vector<std::string>& bound);
// Prints exactly one JSON line on stdout and flushes it ("ready": true first).
void print_ready_line(const Json& listeners);

// SIGTERM / SIGINT (and SIGHUP when asked) for a server's main thread. Construct it first,
// before any thread starts: it blocks these signals, so every thread started later (I/O pool,
// store clients) inherits the mask and only wait()'s thread ever handles them (no EINTR on I/O
// threads, no thread killed by a default disposition).
class ServerSignals {
 public:
  explicit ServerSignals(bool catch_reload = false);
  ServerSignals(const ServerSignals&) = delete;
  ServerSignals& operator=(const ServerSignals&) = delete;
  // Runs on the calling thread until SIGTERM or SIGINT and returns it (signals that came earlier
  // were held, not lost); SIGHUP calls `on_reload` and keeps waiting. Afterwards repeated
  // SIGTERM / SIGINT are ignored: supervisors re-send, and shutdown must not die midway.
  int wait(const std::function<void()>& on_reload = {});

 private:
  sigset_t mask_;
  boost::asio::io_context io_;
  std::unique_ptr<boost::asio::signal_set> set_;
};

// Runs `tick` every `period` on `io` until stop(); stop() may be called from any thread.
class PeriodicTask {
 public:
  PeriodicTask(boost::asio::io_context& io, std::chrono::steady_clock::duration period, std::function<void()> tick);
  void start();
  void stop();

 private:
  void arm();
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::duration period_;
  std::function<void()> tick_;
  bool stopped_ = false;  // io's thread only: a tick already queued when stop() ran must not re-arm
};

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

#include "common/server.h"

#include <boost/asio/post.hpp>
#include <csignal>
#include <cstdio>
#include <span>
#include <thread>

#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm {

namespace {
constexpr int64_t kMaxThreads = 256;
}

void apply_log_level(const config::Values& v) {
  log::Level lvl;
  if (!log::parse_level(v.str("log-level"), lvl))
    throw config::ConfigError("log-level", "must be debug, info, warn or error");
  log::set_level(lvl);
}

size_t io_threads(const config::Values& v) {
  int64_t threads = v.integer("threads", 0, kMaxThreads);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<size_t>(threads);
}

std::string optional_secret(const config::Values& v, const std::string& key) {
  return v.has(key) ? config::read_secret_file(key, v.str(key)) : std::string();
}

net::HostPort listen_address(const std::string& key, const std::string& text) {
  auto hp = net::parse_host_port(text);
  if (!hp) throw config::ConfigError(key, "\"" + text + "\" is not an ip:port address (IPv6 as [addr]:port)");
  return *hp;
}

void start_listener(const std::string& key, const std::function<void()>& start, const std::string& address) {
  try {
    start();
  } catch (const std::exception& e) {
    throw config::ConfigError(key, address.empty() ? std::string(e.what()) : "cannot listen on " + address + ": " + e.what());
  }
}

Json listener_json(const std::vector<std::string>& bound) {
  if (bound.size() == 1) return bound[0];
  return bound;
}

ServerSignals::ServerSignals(bool catch_reload) {
  sigemptyset(&mask_);
  sigaddset(&mask_, SIGTERM);
  sigaddset(&mask_, SIGINT);
  if (catch_reload) sigaddset(&mask_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask_, nullptr);
  set_ = std::make_unique<boost::asio::signal_set>(io_, SIGINT, SIGTERM);
  if (catch_reload) set_->add(SIGHUP);
}

int ServerSignals::wait(const std::function<void()>& on_reload) {
  int caught = 0;
  std::function<void()> arm = [&] {
    set_->async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        if (on_reload) on_reload();
        return arm();
      }
      caught = sig;
    });
  };
  arm();
  pthread_sigmask(SIG_UNBLOCK, &mask_, nullptr);  // held signals arrive now, on this thread only
  io_.run();
  pthread_sigmask(SIG_BLOCK, &mask_, nullptr);
  // The set goes first: removing it restores the default (fatal) disposition.
  set_.reset();
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  return caught;
}

PeriodicTask::PeriodicTask(boost::asio::io_context& io, std::chrono::steady_clock::duration period,
                           std::function<void()> tick)
    : io_(io), timer_(io), period_(period), tick_(std::move(tick)) {}

void PeriodicTask::start() { arm(); }

void PeriodicTask::stop() {
  boost::asio::post(io_, [this] {  // the timer belongs to io's thread
    stopped_ = true;
    timer_.cancel();
  });
}

void PeriodicTask::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    tick_();
    arm();
  });
}

void print_ready_line(const Json& listeners) {
  Json o = {{"ready", true}};
  for (const auto& [k, v] : listeners.items())
    if (k != "ready") o[k] = v;
  std::string line = json_dump(o) + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

bool bearer_matches(const http::Request& req, const std::string& token, const std::string& previous) {
  auto it = req.find(http::bhttp::field::authorization);
  if (it == req.end()) return false;
  std::string_view v = it->value();
  constexpr std::string_view prefix = "Bearer ";
  if (v.size() <= prefix.size() || v.substr(0, prefix.size()) != prefix) return false;
  std::string_view given = v.substr(prefix.size());
  auto eq = [&](const std::string& t) {
    if (t.empty()) return false;
    auto a = crypto::sha256(given), b = crypto::sha256(t);  // equal length for a constant-time compare
    return crypto::equal_ct(a, b);
  };
  return eq(token) || eq(previous);
}

http::Handler make_admin_handler(AdminRoutes routes) {
  auto r = std::make_shared<AdminRoutes>(std::move(routes));
  return [r](http::Request&& req, const http::ConnInfo& info, http::Done done) {
    std::string_view target = req.target();
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    using http::bhttp::status;
    if (path == "/metrics" && req.method() == http::bhttp::verb::get) {
      return done(http::make_response(req, status::ok, r->registry ? r->registry->expose() : std::string(),
                                      "text/plain; version=0.0.4; charset=utf-8"));
    }
    if (path == "/healthz") return done(http::text_response(req, status::ok, "ok\n"));
    if (path == "/readyz") {
      std::string why;
      if (!r->ready || r->ready(why)) return done(http::text_response(req, status::ok, "ready\n"));
      // ?degraded=ok: the Kubernetes probe's form. A store outage hits every replica at once, and
      // a degraded replica still answers; taking all of them out of the Service would answer nobody.
      if (q != std::string_view::npos && target.substr(q + 1) == "degraded=ok")
        return done(http::text_response(req, status::ok, "degraded: " + why + "\n"));
      return done(http::text_response(req, status::service_unavailable, "not ready: " + why + "\n"));
    }
    if (path.substr(0, 5) == "/api/") {
      if (!bearer_matches(req, r->admin_token, r->admin_token_previous)) {
        auto res = http::json_response(req, status::unauthorized,
                                       R"({"error":"missing or wrong admin bearer token"})");
        res.set(http::bhttp::field::www_authenticate, "Bearer");
        return done(std::move(res));
      }
      if (r->api) return r->api(std::move(req), info, std::move(done));
    }
    if (r->other) {
      http::Response res;
      if (r->other(req, res)) return done(std::move(res));
    }
    done(http::json_response(req, status::not_found, R"({"error":"not found"})"));
  };
}

}  // namespace otaswarm

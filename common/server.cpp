#include "common/server.h"

#include <cstdio>
#include <span>

#include "common/crypto.h"

namespace otaswarm {

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

#include "rendezvous/api.h"

#include "common/json.h"
#include "rendezvous/turn.h"

namespace otaswarm::rendezvous {

namespace {
constexpr std::string_view kBearer = "Bearer ";
using http::bhttp::status;

http::Response json_error(const http::Request& req, status s, std::string_view msg) {
  return http::json_response(req, s, json_dump({{"error", msg}}));
}
}  // namespace

DeviceApi::DeviceApi(ApiConfig cfg, Metrics& m, const Clock& clock)
    : cfg_(std::move(cfg)), m_(m), clock_(clock), per_device_(cfg_.per_device, cfg_.max_rate_keys, clock) {}

http::Response DeviceApi::handle(const http::Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path != "/v1/turn-credentials") return json_error(req, status::not_found, "not found");
  if (req.method() != http::bhttp::verb::post) {
    auto res = json_error(req, status::method_not_allowed, "use POST");
    res.set(http::bhttp::field::allow, "POST");
    return res;
  }
  auto refuse = [&](status s, std::string_view why) {
    m_.turn_credentials.with({"refused"}).inc();
    auto res = json_error(req, s, why);
    if (s == status::unauthorized) res.set(http::bhttp::field::www_authenticate, "Bearer");
    return res;
  };
  auto it = req.find(http::bhttp::field::authorization);
  if (it == req.end() || it->value().substr(0, kBearer.size()) != kBearer)
    return refuse(status::unauthorized, "missing Authorization: Bearer <device token>");
  auto v = token::verify(cfg_.device_keys, it->value().substr(kBearer.size()), clock_);
  if (v.status != token::Status::ok) return refuse(status::unauthorized, token::to_string(v.status));
  if (cfg_.turn_secret.empty()) return refuse(status::service_unavailable, "no TURN relay configured");
  if (!per_device_.allow(rate_key(v.device_id))) return refuse(status::too_many_requests, "too many requests for this device");
  auto c = make_turn_credentials(cfg_.turn_secret, v.device_id, clock_.unix_seconds(), cfg_.turn_ttl_s);
  m_.turn_credentials.with({"issued"}).inc();
  Json o = Json::object();
  o["username"] = c.username;
  o["password"] = c.password;
  o["ttl"] = c.ttl;
  o["expiry"] = c.expiry;
  o["uris"] = cfg_.turn_uris;
  auto res = http::json_response(req, status::ok, json_dump(o));
  res.set(http::bhttp::field::cache_control, "no-store");
  return res;
}

http::Handler DeviceApi::handler() {
  return [this](http::Request&& req, const http::ConnInfo&, http::Done done) { done(handle(req)); };
}

}  // namespace otaswarm::rendezvous

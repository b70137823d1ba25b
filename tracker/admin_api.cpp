#include "tracker/admin_api.h"

#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "tracker/admission.h"
#include "tracker/status_page.h"

namespace otaswarm {

using http::bhttp::status;

namespace {

std::optional<store::InfoHash> parse_hex_hash(std::string_view hex) {
  auto raw = crypto::unhex(hex);
  if (!raw || raw->size() != 20) return std::nullopt;
  store::InfoHash h;
  std::memcpy(h.data(), raw->data(), 20);
  return h;
}

Json counts_json(const store::SwarmCounts& c, uint64_t length) {
  Json o = Json::object();
  o["seeders"] = c.seeders;
  o["leechers"] = c.leechers;
  o["completed"] = c.completed;
  o["uploaded"] = c.uploaded;
  o["downloaded"] = c.downloaded;
  o["offload"] = c.downloaded ? static_cast<double>(c.uploaded) / static_cast<double>(c.downloaded) : 0.0;
  Json tiers = Json::object();
  uint64_t handed = 0;
  for (size_t t = 0; t < store::kTierCount; ++t) {
    tiers[store::to_string(static_cast<store::Tier>(t))] = c.tiers[t];
    handed += c.tiers[t];
  }
  o["tiers"] = tiers;
  o["same_isp_ratio"] =
      handed ? static_cast<double>(c.tiers[0] + c.tiers[1]) / static_cast<double>(handed) : 0.0;
  Json nat = Json::object();
  for (size_t b = 0; b < store::kNatBucketCount; ++b) nat[store::to_string(static_cast<store::NatBucket>(b))] = c.nat[b];
  o["nat"] = nat;
  (void)length;
  return o;
}

Json origin_object(const Release& r, const OriginPlanner* planner) {
  std::string why;
  Json o = json_parse(origin_policy_json(r.origin), why).value_or(Json::object());
  OriginStats st = planner ? planner->stats(r.info_hash) : OriginStats{};
  o["grants_outstanding"] = st.outstanding;
  o["grants_given"] = {{"paced", st.given_paced}, {"starved", st.given_starved}};
  o["grants_denied"] = st.denied;
  return o;
}

Json release_object(const Release& r, const store::SwarmCounts& c, const OriginPlanner* planner) {
  Json o = Json::object();
  o["info_hash"] = crypto::hex(r.info_hash);
  o["name"] = r.name;
  o["length"] = r.length;
  o["piece_length"] = r.piece_length;
  o["pieces"] = r.pieces;
  o["webseeds"] = r.webseeds;
  o["trackers"] = r.trackers;
  o.update(counts_json(c, r.length));
  o["origin"] = origin_object(r, planner);
  return o;
}

http::Response error_json(const http::Request& req, status st, const std::string& msg) {
  Json o = Json::object();
  o["error"] = msg;
  return http::json_response(req, st, json_dump(o));
}

}  // namespace

std::string AdminApi::release_json(const Release& r) const {
  return json_dump(release_object(r, ctx_.store->counts(r.info_hash), ctx_.origin));
}

void AdminApi::handle_api(http::Request&& req, const http::ConnInfo&, http::Done done) const {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  constexpr std::string_view kReleases = "/api/v1/releases";
  if (path == kReleases || path == std::string(kReleases) + "/") {
    if (req.method() == http::bhttp::verb::get) {
      Json arr = Json::array();
      for (const auto& r : ctx_.registry->list()) arr.push_back(release_object(r, ctx_.store->counts(r.info_hash), ctx_.origin));
      Json o = Json::object();
      o["releases"] = arr;
      return done(http::json_response(req, status::ok, json_dump(o)));
    }
    if (req.method() == http::bhttp::verb::post) {
      auto parsed = parse_torrent(req.body());
      if (!parsed.release) return done(error_json(req, status::unprocessable_entity, parsed.error));
      std::string err;
      auto result = ctx_.registry->add(*parsed.release, err);
      if (result == ReleaseRegistry::AddResult::storage_error) {
        log::error("release not stored", {{"error", err}});
        return done(error_json(req, status::insufficient_storage, "release not stored: " + err));
      }
      log::info(result == ReleaseRegistry::AddResult::created ? "release registered" : "release already registered",
                {{"info_hash", crypto::hex(parsed.release->info_hash)}, {"name", parsed.release->name}});
      auto res = http::json_response(req, result == ReleaseRegistry::AddResult::created ? status::created : status::ok,
                                     release_json(*parsed.release));
      res.set(http::bhttp::field::location, std::string(kReleases) + "/" + crypto::hex(parsed.release->info_hash));
      return done(std::move(res));
    }
    return done(error_json(req, status::method_not_allowed, "use GET or POST"));
  }
  constexpr std::string_view kOriginPolicy = "/origin-policy";
  if (path.size() > kReleases.size() + kOriginPolicy.size() && path.substr(0, kReleases.size() + 1) == std::string(kReleases) + "/" &&
      path.substr(path.size() - kOriginPolicy.size()) == kOriginPolicy) {
    auto h = parse_hex_hash(path.substr(kReleases.size() + 1, path.size() - kReleases.size() - 1 - kOriginPolicy.size()));
    if (!h) return done(error_json(req, status::bad_request, "info hash must be 40 hex characters"));
    auto rel = ctx_.registry->get(*h);
    if (!rel) return done(error_json(req, status::not_found, "no such release"));
    if (req.method() == http::bhttp::verb::get)
      return done(http::json_response(req, status::ok, json_dump(origin_object(*rel, ctx_.origin))));
    if (req.method() != http::bhttp::verb::put) return done(error_json(req, status::method_not_allowed, "use GET or PUT"));
    OriginPolicy p = rel->origin;  // a PUT changes only the keys it names
    if (auto err = parse_origin_policy(req.body(), p)) return done(error_json(req, status::bad_request, *err));
    std::string err;
    if (!ctx_.registry->set_origin_policy(*h, p, err))
      return done(error_json(req, err == "not found" ? status::not_found : status::internal_server_error, err));
    log::info("origin policy set", {{"info_hash", crypto::hex(*h)}, {"policy", origin_policy_json(p)}});
    rel->origin = p;
    return done(http::json_response(req, status::ok, json_dump(origin_object(*rel, ctx_.origin))));
  }
  if (path.substr(0, kReleases.size() + 1) == std::string(kReleases) + "/") {
    auto h = parse_hex_hash(path.substr(kReleases.size() + 1));
    if (!h) return done(error_json(req, status::bad_request, "info hash must be 40 hex characters"));
    auto rel = ctx_.registry->get(*h);
    if (!rel) return done(error_json(req, status::not_found, "no such release"));
    if (req.method() == http::bhttp::verb::get) return done(http::json_response(req, status::ok, release_json(*rel)));
    if (req.method() == http::bhttp::verb::delete_) {
      std::string err;
      if (!ctx_.registry->remove(*h, err)) return done(error_json(req, status::internal_server_error, err));
      ctx_.store->remove_swarm(*h);
      if (ctx_.origin) ctx_.origin->forget(*h);
      log::info("release removed", {{"info_hash", crypto::hex(*h)}});
      Json o = Json::object();
      o["deleted"] = crypto::hex(*h);
      return done(http::json_response(req, status::ok, json_dump(o)));
    }
    return done(error_json(req, status::method_not_allowed, "use GET or DELETE"));
  }
  if (path == "/api/v1/tokens") {
    if (req.method() != http::bhttp::verb::post) return done(error_json(req, status::method_not_allowed, "use POST"));
    std::string why;
    auto v = json_parse(req.body(), why);
    if (!v || !v->is_object()) return done(error_json(req, status::bad_request, "body must be a JSON object"));
    const Json& o = *v;
    auto dev = o.find("device_id");
    if (dev == o.end() || !dev->is_string() || !token::valid_device_id(dev->get_ref<const std::string&>()))
      return done(error_json(req, status::bad_request, "device_id must be a non-empty string of printable characters"));
    int64_t ttl = 7 * 24 * 3600;
    if (auto t = o.find("ttl_seconds"); t != o.end()) {
      if (!t->is_number_integer())
        return done(error_json(req, status::bad_request, "ttl_seconds must be an integer"));
      ttl = t->is_number_unsigned() ? static_cast<int64_t>(t->get<uint64_t>()) : t->get<int64_t>();
      if (ttl <= 0 || ttl > ctx_.max_token_ttl)
        return done(error_json(req, status::bad_request,
                               "ttl_seconds must be in 1.." + std::to_string(ctx_.max_token_ttl)));
    }
    if (ctx_.token_keys.empty())
      return done(error_json(req, status::conflict, "no --token-key-file configured: cannot mint tokens"));
    int64_t expiry = ctx_.clock->unix_seconds() + ttl;
    std::string dev_id = dev->get<std::string>();
    Json out = Json::object();
    out["token"] = token::mint(ctx_.token_keys.current(), dev_id, expiry);
    out["device_id"] = dev_id;
    out["expires"] = expiry;
    return done(http::json_response(req, status::created, json_dump(out)));
  }
  done(error_json(req, status::not_found, "no such API endpoint"));
}

std::string AdminApi::status_json() const {
  Json o = Json::object();
  o["version"] = "0.1.0";
  o["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - ctx_.started).count();
  Json st = Json::object();
  std::string why;
  st["backend"] = ctx_.store->backend();
  st["up"] = ctx_.store->healthy(why);
  st["degraded"] = ctx_.store->degraded();
  o["store"] = st;
  o["interval"] = static_cast<uint32_t>(ctx_.interval * (ctx_.admission ? ctx_.admission->interval_factor() : 1.0));
  Json rels = Json::array();
  uint64_t seeders = 0, leechers = 0;
  auto list = ctx_.registry->list();
  for (const auto& r : list) {
    auto c = ctx_.store->counts(r.info_hash);
    seeders += c.seeders;
    leechers += c.leechers;
    auto obj = release_object(r, c, ctx_.origin);
    obj.erase("trackers");
    rels.push_back(obj);
  }
  Json totals = Json::object();
  totals["releases"] = list.size();
  totals["seeders"] = seeders;
  totals["leechers"] = leechers;
  uint64_t announces = 0;
  if (ctx_.metrics)
    ctx_.metrics->announces.for_each(
        [&](const std::vector<std::string>&, const metrics::Counter& c) { announces += c.value(); });
  totals["announces"] = announces;
  totals["announces_per_second"] = ctx_.admission ? ctx_.admission->load_rate() : 0.0;
  o["totals"] = totals;
  o["releases"] = rels;
  return json_dump(o);
}

bool AdminApi::handle_public(const http::Request& req, http::Response& res) const {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (req.method() != http::bhttp::verb::get && req.method() != http::bhttp::verb::head) return false;
  if (path == "/status.json") {
    res = http::json_response(req, status::ok, status_json());
    res.set(http::bhttp::field::cache_control, "no-store");
    return true;
  }
  if (path == "/" || path == "/index.html") {
    res = http::make_response(req, status::ok, std::string(kStatusPageHtml), "text/html; charset=utf-8");
    return true;
  }
  return false;
}

void AdminApi::register_metrics(metrics::Registry& reg) const {
  auto per_release = [this](auto field) {
    return [this, field] {
      std::vector<metrics::Sample> out;
      for (const auto& r : ctx_.registry->list()) {
        auto c = ctx_.store->counts(r.info_hash);
        out.push_back({{{"info_hash", crypto::hex(r.info_hash)}, {"name", r.name}}, field(c)});
      }
      return out;
    };
  };
  reg.callback("otaswarm_release_seeders", "Seeders in the release's swarm.",
               per_release([](const store::SwarmCounts& c) { return double(c.seeders); }));
  reg.callback("otaswarm_release_leechers", "Leechers in the release's swarm.",
               per_release([](const store::SwarmCounts& c) { return double(c.leechers); }));
  reg.callback("otaswarm_release_completed_total", "Completed events of the release.",
               per_release([](const store::SwarmCounts& c) { return double(c.completed); }), true);
  reg.callback("otaswarm_release_uploaded_bytes", "Sum of uploaded bytes reported by peers.",
               per_release([](const store::SwarmCounts& c) { return double(c.uploaded); }));
  reg.callback("otaswarm_release_downloaded_bytes", "Sum of downloaded bytes reported by peers.",
               per_release([](const store::SwarmCounts& c) { return double(c.downloaded); }));
  reg.callback("otaswarm_release_offload_ratio", "Sum uploaded / sum downloaded: share of bytes from peers.",
               per_release([](const store::SwarmCounts& c) {
                 return c.downloaded ? double(c.uploaded) / double(c.downloaded) : 0.0;
               }));
  reg.callback("otaswarm_release_same_isp_ratio", "Share of handed-out peers in the requester's LAN or ISP.",
               per_release([](const store::SwarmCounts& c) {
                 uint64_t all = c.tiers[0] + c.tiers[1] + c.tiers[2] + c.tiers[3];
                 return all ? double(c.tiers[0] + c.tiers[1]) / double(all) : 0.0;
               }));
  reg.callback("otaswarm_release_nat_peers", "NAT-class mix of the release's swarm.", [this] {
    std::vector<metrics::Sample> out;
    for (const auto& r : ctx_.registry->list()) {
      auto c = ctx_.store->counts(r.info_hash);
      for (size_t b = 0; b < store::kNatBucketCount; ++b)
        out.push_back({{{"info_hash", crypto::hex(r.info_hash)},
                        {"name", r.name},
                        {"class", store::to_string(static_cast<store::NatBucket>(b))}},
                       double(c.nat[b])});
    }
    return out;
  });
  auto per_release_origin = [this](auto field) {
    return [this, field] {
      std::vector<metrics::Sample> out;
      for (const auto& r : ctx_.registry->list()) {
        auto st = ctx_.origin ? ctx_.origin->stats(r.info_hash) : OriginStats{};
        out.push_back({{{"info_hash", crypto::hex(r.info_hash)}, {"name", r.name}}, field(st)});
      }
      return out;
    };
  };
  reg.callback("otaswarm_release_origin_grants", "Origin (web seed) grants held now in this replica's plan.",
               per_release_origin([](const OriginStats& s) { return double(s.outstanding); }));
  reg.callback("otaswarm_release_origin_grants_given_total", "Origin grants given, by reason (paced, starved).", [this] {
    std::vector<metrics::Sample> out;
    for (const auto& r : ctx_.registry->list()) {
      auto st = ctx_.origin ? ctx_.origin->stats(r.info_hash) : OriginStats{};
      out.push_back({{{"info_hash", crypto::hex(r.info_hash)}, {"name", r.name}, {"reason", "paced"}}, double(st.given_paced)});
      out.push_back({{{"info_hash", crypto::hex(r.info_hash)}, {"name", r.name}, {"reason", "starved"}}, double(st.given_starved)});
    }
    return out;
  }, true);
  reg.callback("otaswarm_release_origin_grants_denied_total",
               "Origin grants refused by the per-device grant rate limit.",
               per_release_origin([](const OriginStats& s) { return double(s.denied); }), true);
  reg.callback("otaswarm_release_origin_paced", "1 when the release's origin policy is paced, 0 when greedy.", [this] {
    std::vector<metrics::Sample> out;
    for (const auto& r : ctx_.registry->list())
      out.push_back({{{"info_hash", crypto::hex(r.info_hash)}, {"name", r.name}}, r.origin.mode == OriginMode::paced ? 1.0 : 0.0});
    return out;
  });
  reg.callback("otaswarm_releases", "Registered releases.",
               [this] { return std::vector<metrics::Sample>{{{}, double(ctx_.registry->size())}}; });
  reg.callback("otaswarm_store_up", "1 when the store answers.", [this] {
    std::string why;
    return std::vector<metrics::Sample>{{{{"backend", ctx_.store->backend()}}, ctx_.store->healthy(why) ? 1.0 : 0.0}};
  });
}

}  // namespace otaswarm

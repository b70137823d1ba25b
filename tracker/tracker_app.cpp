#include "tracker/tracker_app.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <limits>
#include <thread>

#include "common/http/server.h"
#include "common/io_pool.h"
#include "common/crypto.h"
#include "common/log.h"
#include "tracker/store/memory_store.h"
#include "common/proto/nat.h"
#include "common/proto/torrent.h"
#include "common/net.h"
#include "common/server.h"
#include "tracker/store/store_factory.h"
#include "tracker/admin_api.h"
#include "tracker/announce.h"
#include "tracker/connection_id.h"
#include "tracker/frontend/http_frontend.h"
#include "tracker/loop_lag.h"
#include "tracker/locality.h"
#include "tracker/redis_release_persistence.h"
#include "tracker/release_registry.h"
#include "tracker/tracker_metrics.h"
#include "tracker/frontend/udp_server.h"

namespace otaswarm {

using config::ConfigError;
using config::Kind;

config::Schema tracker_schema() {
  config::Schema s("otaswarm-tracker", "Private HTTP + UDP BitTorrent tracker for OTA releases.");
  s.add("http-listen", Kind::list, "HTTP announce/scrape address ip:port (repeatable; port 0 = any)", {"0.0.0.0:6969"})
      .add("https-listen", Kind::list, "HTTPS announce/scrape address (native TLS, needs tls-cert-file; repeatable)")
      .add("tls-cert-file", Kind::string, "PEM certificate chain for https-listen and admin-tls")
      .add("tls-key-file", Kind::string, "PEM private key for https-listen and admin-tls")
      .add("admin-tls", Kind::boolean, "serve the admin listener over TLS", {"false"})
      .add("udp-listen", Kind::list, "UDP (BEP 15) address ip:port (repeatable, IPv4 and IPv6)", {"0.0.0.0:6969"})
      .add("admin-listen", Kind::string, "admin API, /metrics, status page (keep it private)", {"127.0.0.1:6970"})
      .add("token-key-file", Kind::string, "HMAC key shared with the update backend (device tokens)")
      .add("token-key-previous-file", Kind::string, "previous token key, accepted during a rotation")
      .add("admin-token-file", Kind::string, "bearer token for /api/ (without it the admin API is disabled)")
      .add("admin-token-previous-file", Kind::string, "previous admin token, accepted during a rotation")
      .add("connection-id-key-file", Kind::string,
           "key for BEP 15 connection IDs, shared by all replicas [default: derived from the token key]")
      .add("connection-id-key-previous-file", Kind::string, "previous connection-ID key during a rotation")
      .add("nat-ticket-key-file", Kind::string, "key of the rendezvous's NAT tickets [default: the token key]")
      .add("nat-ticket-key-previous-file", Kind::string, "previous NAT-ticket key during a rotation")
      .add("data-dir", Kind::string, "where the release registry is stored (embedded mode)", {"./var"})
      .add("open", Kind::boolean, "public demo mode: any info_hash, no device token", {"false"})
      .add("store", Kind::string, "memory | redis://host:port | redis-cluster://host:port,...", {"memory"})
      .add("threads", Kind::integer, "I/O threads (0 = one per core)", {"0"})
      .add("log-level", Kind::string, "debug | info | warn | error", {"info"})
      .add("announce-interval", Kind::integer, "seconds between announces handed to clients", {"1800"})
      .add("min-interval", Kind::integer, "minimum seconds between announces", {"900"})
      .add("interval-jitter", Kind::number, "± fraction of per-device interval jitter", {"0.1"})
      .add("numwant-default", Kind::integer, "peers returned when the client does not say", {"50"})
      .add("numwant-max", Kind::integer, "cap on peers returned", {"200"})
      .add("peer-timeout", Kind::integer, "seconds of silence before a peer expires (0 = 2×interval + 300)", {"0"})
      .add("trusted-proxy", Kind::list, "CIDR whose X-Forwarded-For / ip parameter is believed (repeatable)")
      .add("peer-selection", Kind::string, "locality (same LAN, ISP, region first) | random (plain tracker)",
           {"locality"})
      .add("reachability", Kind::boolean, "pair peers by NAT class (tickets from the rendezvous)", {"true"})
      .add("selection-seed", Kind::integer,
           "seed of the peer-selection RNG (0 = random); a fixed seed makes hand-outs repeatable (simulator, tests)",
           {"0"})
      .add("outside-isp-peers", Kind::integer, "peers from other ISPs kept in every list", {"2"})
      .add("locality-mmdb", Kind::string, "MaxMind-format ASN (GeoLite2-ASN schema) database; reloaded on SIGHUP")
      .add("locality-map", Kind::string, "ALTO network map JSON (RFC 7285 §11.2.1), PID = <isp>[.<region>]; reloaded on SIGHUP")
      .add("icode-key-file", Kind::string, "operator key that signs `icode` ISP tokens")
      .add("icode-key-previous-file", Kind::string, "previous icode key during a rotation")
      .add("lan-pairing-requires-hint", Kind::boolean,
           "hand out LAN addresses only when peers share a `lan` hint (guards against carrier-grade NAT)", {"true"})
      .add("rate-device", Kind::number, "announces/s a device may make on average (token bucket)", {"0.0667"})
      .add("rate-device-burst", Kind::number, "burst of announces per device", {"8"})
      .add("origin-grant-rate", Kind::number,
           "origin grants/s a device may acquire (token bucket; docs/origin-pacing.md)", {"0.0333"})
      .add("origin-grant-burst", Kind::number, "burst of origin grants per device", {"4"})
      .add("rate-address", Kind::number, "announces/s per IPv4 address or IPv6 /64 (generous: carrier-grade NAT)",
           {"2000"})
      .add("rate-address-burst", Kind::number, "burst per address", {"10000"})
      .add("rate-swarm", Kind::number, "announces/s per release (0 = unlimited)", {"0"})
      .add("rate-swarm-burst", Kind::number, "burst per release", {"0"})
      .add("periodic-budget", Kind::number,
           "periodic re-announces/s this replica answers before shedding them with a retry hint (0 = off)", {"0"})
      .add("shed-queue-delay-ms", Kind::number,
           "UDP queue delay (kernel receipt to handling) above which announces get a cheap busy reply with a retry "
           "hint (0 = off)",
           {"50"})
      .add("shed-http-queue-delay-ms", Kind::number,
           "HTTP I/O-thread event-loop lag above which HTTP announces get a bencoded busy failure with BEP 31 retry "
           "in (0 = off: an HTTP busy reply costs nearly as much as an answer, see docs/benchmarks.md)",
           {"0"})
      .add("shed-busy-per-answer", Kind::number,
           "busy replies a shedding I/O thread may send per announce it answers; shed announces beyond that are "
           "dropped (0 = drop them all)",
           {"1"})
      .add("shed-receive-buffer", Kind::integer,
           "UDP SO_RCVBUF bytes while shedding, so the kernel drops the excess for free (0 = keep the normal size)",
           {"131072"})
      .add("shed-retry", Kind::integer, "seconds a shed announce is told to wait (grows with the interval factor)",
           {"60"})
      .add("adaptive-target-rate", Kind::number, "announces/s per replica above which the interval grows",
           {"20000"})
      .add("adaptive-target-latency-ms", Kind::number, "mean announce latency above which the interval grows",
           {"50"})
      .add("adaptive-max-factor", Kind::number, "largest interval multiplier under load", {"8"})
      .add("max-swarms", Kind::integer, "cap on tracked swarms", {"100000"})
      .add("http-header-limit", Kind::integer, "bytes of request line + headers", {"8192"})
      .add("admin-body-limit", Kind::integer, "bytes of an admin request body (.torrent upload)", {"16777216"})
      .add("http-read-timeout-ms", Kind::integer, "a request must arrive within this", {"10000"})
      .add("http-idle-timeout-ms", Kind::integer, "keep-alive idle timeout", {"30000"})
      .add("http-max-connections", Kind::integer, "open HTTP connections in total", {"20000"})
      .add("http-max-connections-per-address", Kind::integer, "per client address (carrier-grade NAT aware)",
           {"2000"})
      .add("http-max-requests-per-connection", Kind::integer, "keep-alive requests before closing", {"10000"})
      .add("shutdown-grace-ms", Kind::integer, "time in-flight requests get on SIGTERM", {"2000"});
  return s;
}

namespace {

// How soon a release registered on another replica is accepted here.
constexpr auto kReleaseRefreshPeriod = std::chrono::seconds(2);

std::string optional_secret(const config::Values& v, const std::string& key) {
  if (!v.has(key)) return {};
  return config::read_secret_file(key, v.str(key));
}

net::HostPort listen_address(const std::string& key, const std::string& text) {
  auto hp = net::parse_host_port(text);
  if (!hp) throw ConfigError(key, "\"" + text + "\" is not an ip:port address (IPv6 as [addr]:port)");
  return *hp;
}

store::NatBucket bucket_of(const nat::NatClass& c) {
  if (c.public_address) return store::NatBucket::public_address;
  if (c.mapping == nat::Mapping::endpoint_independent) return store::NatBucket::eim;
  if (c.mapping == nat::Mapping::address_dependent || c.mapping == nat::Mapping::address_and_port_dependent)
    return store::NatBucket::apdm;
  return store::NatBucket::unknown;
}

Json listeners_json(const std::vector<std::string>& addrs) {
  if (addrs.size() == 1) return addrs[0];
  return addrs;
}

}  // namespace

int run_tracker(const config::Values& v) {
  log::Level lvl;
  if (!log::parse_level(v.str("log-level"), lvl)) throw ConfigError("log-level", "must be debug, info, warn or error");
  log::set_level(lvl);

  TrackerPolicy policy;
  policy.open = v.boolean("open");
  policy.interval = static_cast<uint32_t>(v.integer("announce-interval", 10, 86400));
  policy.min_interval = static_cast<uint32_t>(v.integer("min-interval", 1, 86400));
  if (policy.min_interval > policy.interval) throw ConfigError("min-interval", "must not exceed announce-interval");
  policy.interval_jitter = v.number("interval-jitter", 0.0, 0.5);
  policy.numwant_max = static_cast<uint32_t>(v.integer("numwant-max", 1, 1000));
  policy.numwant_default = static_cast<uint32_t>(v.integer("numwant-default", 0, 1000));
  if (policy.numwant_default > policy.numwant_max)
    throw ConfigError("numwant-default", "must not exceed numwant-max");
  policy.outside_isp = static_cast<uint32_t>(v.integer("outside-isp-peers", 0, 1000));
  std::string sel = v.str("peer-selection");
  if (sel != "locality" && sel != "random") throw ConfigError("peer-selection", "must be locality or random");
  policy.locality = sel == "locality";
  policy.reachability = v.boolean("reachability");
  for (const auto& c : v.list("trusted-proxy")) {
    auto cidr = net::parse_cidr(c);
    if (!cidr) throw ConfigError("trusted-proxy", "\"" + c + "\" is not a CIDR");
    policy.trusted_proxies.add(*cidr);
  }

  std::string token_key = optional_secret(v, "token-key-file");
  std::string token_prev = optional_secret(v, "token-key-previous-file");
  if (token_key.empty() && !policy.open)
    throw ConfigError("token-key-file", "required (device tokens are verified with it) unless --open is set");
  std::string admin_token = optional_secret(v, "admin-token-file");
  std::string admin_prev = optional_secret(v, "admin-token-previous-file");
  std::string cid_key = optional_secret(v, "connection-id-key-file");
  std::string cid_prev = optional_secret(v, "connection-id-key-previous-file");
  if (cid_key.empty()) {
    if (!token_key.empty()) {
      cid_key = token_key;
      cid_prev = token_prev;
    } else {
      cid_key = crypto::hex(crypto::sha256(std::to_string(crypto::random_u64())));  // single-replica demo
    }
  }
  std::string nat_key = optional_secret(v, "nat-ticket-key-file");
  std::string nat_prev = optional_secret(v, "nat-ticket-key-previous-file");
  if (nat_key.empty()) {
    nat_key = token_key;
    nat_prev = token_prev;
  }

  std::string store_url = v.str("store");
  std::string store_err;
  auto store_kind = parse_store_url(store_url, store_err);
  if (!store_kind) throw ConfigError("store", store_err);

  int64_t threads = v.integer("threads", 0, 256);
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());

  http::Limits http_limits;
  http_limits.header_limit = static_cast<size_t>(v.integer("http-header-limit", 1024, 1 << 20));
  http_limits.body_limit = 0;
  http_limits.read_timeout = std::chrono::milliseconds(v.integer("http-read-timeout-ms", 100, 600000));
  http_limits.idle_timeout = std::chrono::milliseconds(v.integer("http-idle-timeout-ms", 100, 3600000));
  http_limits.max_connections = static_cast<size_t>(v.integer("http-max-connections", 1, 10000000));
  http_limits.max_connections_per_address =
      static_cast<size_t>(v.integer("http-max-connections-per-address", 1, 10000000));
  http_limits.max_requests_per_connection =
      static_cast<size_t>(v.integer("http-max-requests-per-connection", 1, 100000000));
  http::Limits admin_limits = http_limits;
  admin_limits.body_limit = static_cast<size_t>(v.integer("admin-body-limit", 1024, torrent::kMaxTorrentBytes));
  admin_limits.max_connections_per_address = admin_limits.max_connections;
  int64_t grace_ms = v.integer("shutdown-grace-ms", 0, 60000);
  int64_t peer_timeout = v.integer("peer-timeout", 0, 7 * 86400);
  if (peer_timeout == 0) peer_timeout = 2 * policy.interval * (1 + policy.interval_jitter) + 300;

  std::vector<net::HostPort> http_addrs, https_addrs, udp_addrs;
  for (const auto& a : v.list("http-listen")) http_addrs.push_back(listen_address("http-listen", a));
  for (const auto& a : v.list("https-listen")) https_addrs.push_back(listen_address("https-listen", a));
  std::shared_ptr<boost::asio::ssl::context> tls;
  bool admin_tls = v.boolean("admin-tls");
  if (!https_addrs.empty() || admin_tls) {
    if (!v.has("tls-cert-file") || !v.has("tls-key-file"))
      throw ConfigError("tls-cert-file", "https-listen / admin-tls need tls-cert-file and tls-key-file");
    try {
      tls = http::make_tls_context(v.str("tls-cert-file"), v.str("tls-key-file"));
    } catch (const std::exception& e) {
      throw ConfigError("tls-cert-file", e.what());
    }
  }
  for (const auto& a : v.list("udp-listen")) udp_addrs.push_back(listen_address("udp-listen", a));
  auto admin_addr = listen_address("admin-listen", v.str("admin-listen"));

  // Embedded: releases in the data dir. Redis: shared by all replicas, refreshed periodically.
  std::unique_ptr<ReleasePersistence> persistence;
  std::string err;
  if (store_kind->kind == StoreUrl::Kind::memory) {
    auto files = std::make_unique<FileReleasePersistence>(v.str("data-dir"));
    if (!files->init(err)) throw ConfigError("data-dir", err);
    persistence = std::move(files);
  } else {
    RedisReleaseOptions ro;
    ro.min_replicas = store_kind->kind == StoreUrl::Kind::redis_cluster ? 1 : 0;
    persistence = std::make_unique<RedisReleasePersistence>(make_redis_client(*store_kind), ro);
  }
  ReleaseRegistry registry(persistence.get());
  registry.load();
  std::unique_ptr<ReleaseRefresher> refresher;
  if (store_kind->kind != StoreUrl::Kind::memory)
    refresher = std::make_unique<ReleaseRefresher>(registry, kReleaseRefreshPeriod);

  const Clock& clock = SystemClock::instance();
  store::MemoryStoreOptions sopts;
  sopts.peer_timeout_ms = peer_timeout * 1000;
  sopts.max_swarms = static_cast<size_t>(v.integer("max-swarms", 1, 100000000));
  sopts.seed = static_cast<uint64_t>(v.integer("selection-seed", 0, std::numeric_limits<int64_t>::max()));
  metrics::Registry reg;
  auto store_ptr = make_store(store_url, sopts, clock, &reg, store_err);
  if (!store_ptr) throw ConfigError("store", store_err);
  store::SwarmStore& store = *store_ptr;

  TrackerMetrics tm(reg);
  tm.interval.set(policy.interval);
  LocalityOptions lopts;
  lopts.mmdb_path = v.str("locality-mmdb");
  lopts.map_path = v.str("locality-map");
  lopts.icode_keys = token::KeyRing(optional_secret(v, "icode-key-file"), optional_secret(v, "icode-key-previous-file"));
  lopts.require_lan_hint = v.boolean("lan-pairing-requires-hint");
  lopts.clock = &clock;
  LocalityService locality(lopts);

  TrackerContext ctx;
  ctx.policy = policy;
  ctx.token_keys = token::KeyRing(token_key, token_prev);
  ctx.clock = &clock;
  ctx.registry = &registry;
  ctx.store = &store;
  ctx.locality = &locality;
  ctx.metrics = &tm;
  token::KeyRing nat_keys(nat_key, nat_prev);
  if (!nat_keys.empty()) {
    ctx.nat_verifier = [nat_keys, &clock](std::string_view ticket, const std::string& device, store::Reach& reach,
                                          store::NatBucket& bucket) {
      auto r = nat::verify_ticket(nat_keys, ticket, clock);
      // A ticket only counts for the device it was issued to.
      if (r.status != nat::TicketStatus::ok || r.ticket.device_id != device) return false;
      reach = static_cast<store::Reach>(nat::reach_of(r.ticket.cls));
      bucket = bucket_of(r.ticket.cls);
      return true;
    };
  }
  AdmissionConfig acfg;
  acfg.device = {v.number("rate-device", 0, 1e6), v.number("rate-device-burst", 0, 1e6)};
  acfg.address = {v.number("rate-address", 0, 1e9), v.number("rate-address-burst", 0, 1e9)};
  acfg.swarm = {v.number("rate-swarm", 0, 1e9), v.number("rate-swarm-burst", 0, 1e9)};
  acfg.periodic_budget_per_second = v.number("periodic-budget", 0, 1e9);
  acfg.target_rate = v.number("adaptive-target-rate", 0, 1e9);
  acfg.target_latency_s = v.number("adaptive-target-latency-ms", 0, 1e6) / 1000.0;
  acfg.max_interval_factor = v.number("adaptive-max-factor", 1, 100);
  AdmissionController admission(acfg, clock);
  ctx.admission = &admission;
  ShedConfig shed;
  shed.queue_delay_ms = v.number("shed-queue-delay-ms", 0, 60'000);
  shed.retry_s = static_cast<uint32_t>(v.integer("shed-retry", 1, 86'400));
  shed.busy_per_answer = v.number("shed-busy-per-answer", 0, 1e6);
  shed.receive_buffer = static_cast<int>(v.integer("shed-receive-buffer", 0, 1 << 30));
  OriginPlannerLimits olim;
  olim.grants_per_device = {v.number("origin-grant-rate", 0, 1e6), v.number("origin-grant-burst", 0, 1e6)};
  OriginPlanner origin(clock, olim);  // per-replica view of who uses the origin (docs/origin-pacing.md)
  ctx.origin = &origin;
  AnnounceHandler handler(ctx);
  ConnectionIds ids(cid_key, cid_prev, clock);

  AdminContext actx;
  actx.registry = &registry;
  actx.store = &store;
  actx.token_keys = ctx.token_keys;
  actx.clock = &clock;
  actx.metrics = &tm;
  actx.interval = policy.interval;
  actx.admission = &admission;
  actx.origin = &origin;
  AdminApi admin(actx);
  admin.register_metrics(reg);

  // Block termination signals before any thread starts so only sigwait below sees them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  IoPool pool(static_cast<size_t>(threads));
  http::ServerMetrics sm;
  sm.connections_accepted = &tm.http_connections.with({"accepted"});
  sm.connections_rejected = &tm.http_connections.with({"rejected"});
  sm.bad_requests = &tm.http_bad_requests;
  sm.timeouts = &tm.http_timeouts;
  sm.open_connections = &tm.http_open;

  std::vector<std::shared_ptr<http::Server>> http_servers;
  std::vector<std::unique_ptr<UdpServer>> udp_servers;
  std::vector<std::string> http_bound, https_bound, udp_bound;
  // HTTP has no cheap drop (the connection is open and waiting): every shed announce gets the busy reply.
  ShedConfig http_shed = shed;
  http_shed.queue_delay_ms = v.number("shed-http-queue-delay-ms", 0, 60'000);
  http_shed.busy_per_answer = kHttpBusyUnbounded;
  LoopLagProbe loop_lag(pool, http_shed, clock);
  HttpShedding http_shedding;
  if (loop_lag.enabled()) http_shedding.gate = [&loop_lag] { return loop_lag.gate_here(); };
  http_shedding.retry_s = shed.retry_s;
  auto tracker_handler = make_tracker_http_handler(handler, http_shedding);
  auto bind_error = [](const std::string& key, const net::HostPort& hp, const std::exception& e) {
    return ConfigError(key, "cannot listen on " + net::format(hp.address, hp.port) + ": " + e.what());
  };
  for (const auto& hp : http_addrs) {
    auto srv = std::make_shared<http::Server>(pool, boost::asio::ip::tcp::endpoint(hp.address, hp.port), http_limits,
                                              tracker_handler, sm);
    try {
      srv->start();
    } catch (const std::exception& e) {
      throw bind_error("http-listen", hp, e);
    }
    http_bound.push_back(net::format(srv->local_endpoint()));
    http_servers.push_back(srv);
  }
  for (const auto& hp : https_addrs) {
    auto srv = std::make_shared<http::Server>(pool, boost::asio::ip::tcp::endpoint(hp.address, hp.port), http_limits,
                                              tracker_handler, sm, tls);
    try {
      srv->start();
    } catch (const std::exception& e) {
      throw bind_error("https-listen", hp, e);
    }
    https_bound.push_back(net::format(srv->local_endpoint()));
    http_servers.push_back(srv);
  }
  for (const auto& hp : udp_addrs) {
    auto srv =
        std::make_unique<UdpServer>(pool, boost::asio::ip::udp::endpoint(hp.address, hp.port), handler, ids, tm);
    srv->set_shedding(shed);
    try {
      srv->start();
    } catch (const std::exception& e) {
      throw bind_error("udp-listen", hp, e);
    }
    udp_bound.push_back(net::format(srv->local_endpoint()));
    udp_servers.push_back(std::move(srv));
  }
  AdminRoutes routes;
  routes.registry = &reg;
  routes.admin_token = admin_token;
  routes.admin_token_previous = admin_prev;
  routes.ready = [&store](std::string& why) { return store.healthy(why); };
  if (!admin_token.empty()) {
    routes.api = [&admin](http::Request&& req, const http::ConnInfo& info, http::Done done) {
      admin.handle_api(std::move(req), info, std::move(done));
    };
  } else {
    routes.api = [](http::Request&& req, const http::ConnInfo&, http::Done done) {
      done(http::json_response(req, http::bhttp::status::forbidden,
                               R"({"error":"admin API disabled: start the tracker with --admin-token-file"})"));
    };
  }
  routes.other = [&admin](const http::Request& req, http::Response& res) { return admin.handle_public(req, res); };
  auto admin_srv = std::make_shared<http::Server>(pool, boost::asio::ip::tcp::endpoint(admin_addr.address, admin_addr.port),
                                                  admin_limits, make_admin_handler(std::move(routes)), http::ServerMetrics{},
                                                  admin_tls ? tls : nullptr);
  try {
    admin_srv->start();
  } catch (const std::exception& e) {
    throw bind_error("admin-listen", admin_addr, e);
  }

  // Once a second: load estimate and interval factor; every few seconds: expiry of silent
  // peers and idle rate-limit buckets — bounded, periodic, off the announce path.
  boost::asio::steady_timer maint(pool.at(0));
  uint64_t ticks = 0;
  std::function<void()> schedule = [&] {
    maint.expires_after(std::chrono::seconds(1));
    maint.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      admission.tick();
      tm.interval.set(policy.interval * admission.interval_factor());
      if (++ticks % 5 == 0) store.maintain();
      if (ticks % 30 == 0) admission.sweep();
      schedule();
    });
  };
  schedule();
  loop_lag.start();
  pool.start();

  Json ready = Json::object();
  ready["ready"] = true;
  ready["http"] = listeners_json(http_bound);
  if (!https_bound.empty()) ready["https"] = listeners_json(https_bound);
  ready["udp"] = listeners_json(udp_bound);
  ready["admin"] = net::format(admin_srv->local_endpoint());
  print_ready_line(ready);
  log::info("tracker started", {{"releases", std::to_string(registry.size())},
                                {"mode", policy.open ? "open" : "private"},
                                {"threads", std::to_string(threads)}});

  int sig = 0;
  while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
    std::string reload_error;
    if (locality.reload(reload_error))
      log::info("locality data reloaded", {{"reloads", std::to_string(locality.reloads())}});
    else
      log::error("locality reload failed; keeping the previous data", {{"error", reload_error}});
  }
  log::info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  for (auto& s : http_servers) s->stop();
  for (auto& s : udp_servers) s->stop();
  admin_srv->stop();
  boost::asio::post(pool.at(0), [&maint] { maint.cancel(); });
  loop_lag.stop();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (tm.http_open.value() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.stop_now();
  // Before the I/O contexts go: late Redis replies must find them still there.
  store_ptr.reset();
  log::info("stopped");
  return 0;
}

}  // namespace otaswarm

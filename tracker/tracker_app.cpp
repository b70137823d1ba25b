#include "tracker/tracker_app.h"

#include <boost/asio/ip/tcp.hpp>
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
constexpr auto kMaintainPeriod = std::chrono::seconds(1);  // load estimate and interval factor
constexpr uint64_t kStoreMaintainEveryTicks = 5;           // expiry of silent peers
constexpr uint64_t kAdmissionSweepEveryTicks = 30;         // idle rate-limit buckets
constexpr auto kDrainPoll = std::chrono::milliseconds(20);

store::NatBucket bucket_of(const nat::NatClass& c) {
  if (c.public_address) return store::NatBucket::public_address;
  if (c.mapping == nat::Mapping::endpoint_independent) return store::NatBucket::eim;
  if (c.mapping == nat::Mapping::address_dependent || c.mapping == nat::Mapping::address_and_port_dependent)
    return store::NatBucket::apdm;
  return store::NatBucket::unknown;
}

// Every setting, read and checked before anything starts (a ConfigError here is exit 2).
struct TrackerConfig {
  TrackerPolicy policy;
  std::string token_key, token_prev, admin_token, admin_prev, cid_key, cid_prev, nat_key, nat_prev;
  std::string store_url;
  StoreUrl store_kind;
  std::string data_dir;
  size_t threads = 1;
  http::Limits http_limits, admin_limits;
  int64_t grace_ms = 0;
  std::vector<net::HostPort> http_addrs, https_addrs, udp_addrs;
  net::HostPort admin_addr;
  std::shared_ptr<boost::asio::ssl::context> tls;
  bool admin_tls = false;
  store::MemoryStoreOptions store_options;
  LocalityOptions locality;
  AdmissionConfig admission;
  ShedConfig udp_shed, http_shed;
};

TrackerPolicy read_policy(const config::Values& v) {
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
  return policy;
}

// Device-token, admin, connection-ID and NAT-ticket keys; the last two default to the token key.
void read_keys(const config::Values& v, TrackerConfig& c) {
  c.token_key = optional_secret(v, "token-key-file");
  c.token_prev = optional_secret(v, "token-key-previous-file");
  if (c.token_key.empty() && !c.policy.open)
    throw ConfigError("token-key-file", "required (device tokens are verified with it) unless --open is set");
  c.admin_token = optional_secret(v, "admin-token-file");
  c.admin_prev = optional_secret(v, "admin-token-previous-file");
  c.cid_key = optional_secret(v, "connection-id-key-file");
  c.cid_prev = optional_secret(v, "connection-id-key-previous-file");
  if (c.cid_key.empty()) {
    if (!c.token_key.empty()) {
      c.cid_key = c.token_key;
      c.cid_prev = c.token_prev;
    } else {
      c.cid_key = crypto::hex(crypto::sha256(std::to_string(crypto::random_u64())));  // single-replica demo
    }
  }
  c.nat_key = optional_secret(v, "nat-ticket-key-file");
  c.nat_prev = optional_secret(v, "nat-ticket-key-previous-file");
  if (c.nat_key.empty()) {
    c.nat_key = c.token_key;
    c.nat_prev = c.token_prev;
  }
}

void read_http_limits(const config::Values& v, TrackerConfig& c) {
  http::Limits& l = c.http_limits;
  l.header_limit = static_cast<size_t>(v.integer("http-header-limit", 1024, 1 << 20));
  l.body_limit = 0;
  l.read_timeout = std::chrono::milliseconds(v.integer("http-read-timeout-ms", 100, 600000));
  l.idle_timeout = std::chrono::milliseconds(v.integer("http-idle-timeout-ms", 100, 3600000));
  l.max_connections = static_cast<size_t>(v.integer("http-max-connections", 1, 10000000));
  l.max_connections_per_address = static_cast<size_t>(v.integer("http-max-connections-per-address", 1, 10000000));
  l.max_requests_per_connection =
      static_cast<size_t>(v.integer("http-max-requests-per-connection", 1, 100000000));
  c.admin_limits = l;
  c.admin_limits.body_limit = static_cast<size_t>(v.integer("admin-body-limit", 1024, torrent::kMaxTorrentBytes));
  c.admin_limits.max_connections_per_address = c.admin_limits.max_connections;
  c.grace_ms = v.integer("shutdown-grace-ms", 0, 60000);
}

void read_listeners(const config::Values& v, TrackerConfig& c) {
  for (const auto& a : v.list("http-listen")) c.http_addrs.push_back(listen_address("http-listen", a));
  for (const auto& a : v.list("https-listen")) c.https_addrs.push_back(listen_address("https-listen", a));
  c.admin_tls = v.boolean("admin-tls");
  if (!c.https_addrs.empty() || c.admin_tls) {
    if (!v.has("tls-cert-file") || !v.has("tls-key-file"))
      throw ConfigError("tls-cert-file", "https-listen / admin-tls need tls-cert-file and tls-key-file");
    try {
      c.tls = http::make_tls_context(v.str("tls-cert-file"), v.str("tls-key-file"));
    } catch (const std::exception& e) {
      throw ConfigError("tls-cert-file", e.what());
    }
  }
  for (const auto& a : v.list("udp-listen")) c.udp_addrs.push_back(listen_address("udp-listen", a));
  c.admin_addr = listen_address("admin-listen", v.str("admin-listen"));
}

void read_admission(const config::Values& v, TrackerConfig& c) {
  AdmissionConfig& a = c.admission;
  a.device = {v.number("rate-device", 0, 1e6), v.number("rate-device-burst", 0, 1e6)};
  a.address = {v.number("rate-address", 0, 1e9), v.number("rate-address-burst", 0, 1e9)};
  a.swarm = {v.number("rate-swarm", 0, 1e9), v.number("rate-swarm-burst", 0, 1e9)};
  a.periodic_budget_per_second = v.number("periodic-budget", 0, 1e9);
  a.target_rate = v.number("adaptive-target-rate", 0, 1e9);
  a.target_latency_s = v.number("adaptive-target-latency-ms", 0, 1e6) / 1000.0;
  a.max_interval_factor = v.number("adaptive-max-factor", 1, 100);
  ShedConfig& s = c.udp_shed;
  s.queue_delay_ms = v.number("shed-queue-delay-ms", 0, 60'000);
  s.retry_s = static_cast<uint32_t>(v.integer("shed-retry", 1, 86'400));
  s.busy_per_answer = v.number("shed-busy-per-answer", 0, 1e6);
  s.receive_buffer = static_cast<int>(v.integer("shed-receive-buffer", 0, 1 << 30));
  // HTTP has no cheap drop (the connection is open and waiting): every shed announce gets the busy reply.
  c.http_shed = s;
  c.http_shed.queue_delay_ms = v.number("shed-http-queue-delay-ms", 0, 60'000);
  c.http_shed.busy_per_answer = kHttpBusyUnbounded;
}

TrackerConfig read_config(const config::Values& v) {
  TrackerConfig c;
  c.policy = read_policy(v);
  read_keys(v, c);
  c.store_url = v.str("store");
  std::string err;
  auto kind = parse_store_url(c.store_url, err);
  if (!kind) throw ConfigError("store", err);
  c.store_kind = *kind;
  c.threads = io_threads(v);
  read_http_limits(v, c);
  int64_t peer_timeout = v.integer("peer-timeout", 0, 7 * 86400);
  if (peer_timeout == 0) peer_timeout = 2 * c.policy.interval * (1 + c.policy.interval_jitter) + 300;
  read_listeners(v, c);
  c.data_dir = v.str("data-dir");
  c.store_options.peer_timeout_ms = peer_timeout * 1000;
  c.store_options.max_swarms = static_cast<size_t>(v.integer("max-swarms", 1, 100000000));
  c.store_options.seed = static_cast<uint64_t>(v.integer("selection-seed", 0, std::numeric_limits<int64_t>::max()));
  c.locality.mmdb_path = v.str("locality-mmdb");
  c.locality.map_path = v.str("locality-map");
  c.locality.icode_keys = token::KeyRing(optional_secret(v, "icode-key-file"), optional_secret(v, "icode-key-previous-file"));
  c.locality.require_lan_hint = v.boolean("lan-pairing-requires-hint");
  read_admission(v, c);
  return c;
}

// Embedded: releases in the data dir. Redis: shared by all replicas, refreshed periodically.
std::unique_ptr<ReleasePersistence> open_release_persistence(const TrackerConfig& c) {
  if (c.store_kind.kind == StoreUrl::Kind::memory) {
    auto files = std::make_unique<FileReleasePersistence>(c.data_dir);
    std::string err;
    if (!files->init(err)) throw ConfigError("data-dir", err);
    return files;
  }
  RedisReleaseOptions ro;
  ro.min_replicas = c.store_kind.kind == StoreUrl::Kind::redis_cluster ? 1 : 0;
  return std::make_unique<RedisReleasePersistence>(make_redis_client(c.store_kind), ro);
}

std::unique_ptr<store::SwarmStore> open_swarm_store(const TrackerConfig& c, const Clock& clock, metrics::Registry& reg) {
  std::string err;
  auto s = make_store(c.store_url, c.store_options, clock, &reg, err);
  if (!s) throw ConfigError("store", err);
  return s;
}

NatTicketVerifier make_nat_verifier(const token::KeyRing& keys, const Clock& clock) {
  if (keys.empty()) return {};
  return [keys, &clock](std::string_view ticket, const std::string& device, store::Reach& reach,
                        store::NatBucket& bucket) {
    auto r = nat::verify_ticket(keys, ticket, clock);
    // A ticket only counts for the device it was issued to.
    if (r.status != nat::TicketStatus::ok || r.ticket.device_id != device) return false;
    reach = static_cast<store::Reach>(nat::reach_of(r.ticket.cls));
    bucket = bucket_of(r.ticket.cls);
    return true;
  };
}

// The running tracker: its parts in construction order, then its listeners.
class Tracker {
 public:
  explicit Tracker(TrackerConfig cfg);
  void bind();   // every listener; a failure is a ConfigError naming the flag
  void start();  // maintenance, loop-lag probe, I/O threads
  Json ready_line() const;
  void reload_locality();
  void stop();  // stop accepting, give in-flight HTTP requests the grace period, stop the threads
  size_t releases() const { return registry_.size(); }

 private:
  TrackerContext announce_context();
  AdminContext admin_context();
  AdminRoutes admin_routes();
  void bind_http(const std::vector<net::HostPort>& addrs, const char* key, bool tls, std::vector<std::string>& bound);
  void bind_udp();
  void bind_admin();
  void maintain();

  TrackerConfig cfg_;
  const Clock& clock_ = SystemClock::instance();
  std::unique_ptr<ReleasePersistence> persistence_;
  ReleaseRegistry registry_;
  std::unique_ptr<ReleaseRefresher> refresher_;
  metrics::Registry reg_;
  std::unique_ptr<store::SwarmStore> store_;
  TrackerMetrics tm_;
  LocalityService locality_;
  AdmissionController admission_;
  AnnounceHandler handler_;
  ConnectionIds ids_;
  AdminApi admin_;
  IoPool pool_;
  LoopLagProbe loop_lag_;
  http::Handler tracker_http_;
  std::vector<std::shared_ptr<http::Server>> http_servers_;
  std::vector<std::unique_ptr<UdpServer>> udp_servers_;
  std::shared_ptr<http::Server> admin_srv_;
  std::vector<std::string> http_bound_, https_bound_, udp_bound_;
  uint64_t ticks_ = 0;
  PeriodicTask maintenance_;
};

Tracker::Tracker(TrackerConfig cfg)
    : cfg_(std::move(cfg)),
      persistence_(open_release_persistence(cfg_)),
      registry_(persistence_.get()),
      store_(open_swarm_store(cfg_, clock_, reg_)),
      tm_(reg_),
      locality_([this] {
        LocalityOptions o = cfg_.locality;
        o.clock = &clock_;
        return o;
      }()),
      admission_(cfg_.admission, clock_),
      handler_(announce_context()),
      ids_(cfg_.cid_key, cfg_.cid_prev, clock_),
      admin_(admin_context()),
      pool_(cfg_.threads),
      loop_lag_(pool_, cfg_.http_shed, clock_),
      maintenance_(pool_.at(0), kMaintainPeriod, [this] { maintain(); }) {
  registry_.load();
  if (cfg_.store_kind.kind != StoreUrl::Kind::memory)
    refresher_ = std::make_unique<ReleaseRefresher>(registry_, kReleaseRefreshPeriod);
  tm_.interval.set(cfg_.policy.interval);
  admin_.register_metrics(reg_);
  HttpShedding shedding;
  if (loop_lag_.enabled()) shedding.gate = [this] { return loop_lag_.gate_here(); };
  shedding.retry_s = cfg_.udp_shed.retry_s;
  tracker_http_ = make_tracker_http_handler(handler_, shedding);
}

TrackerContext Tracker::announce_context() {
  TrackerContext ctx;
  ctx.policy = cfg_.policy;
  ctx.token_keys = token::KeyRing(cfg_.token_key, cfg_.token_prev);
  ctx.clock = &clock_;
  ctx.registry = &registry_;
  ctx.store = store_.get();
  ctx.locality = &locality_;
  ctx.metrics = &tm_;
  ctx.nat_verifier = make_nat_verifier(token::KeyRing(cfg_.nat_key, cfg_.nat_prev), clock_);
  ctx.admission = &admission_;
  return ctx;
}

AdminContext Tracker::admin_context() {
  AdminContext actx;
  actx.registry = &registry_;
  actx.store = store_.get();
  actx.token_keys = token::KeyRing(cfg_.token_key, cfg_.token_prev);
  actx.clock = &clock_;
  actx.metrics = &tm_;
  actx.interval = cfg_.policy.interval;
  actx.admission = &admission_;
  return actx;
}

AdminRoutes Tracker::admin_routes() {
  AdminRoutes routes;
  routes.registry = &reg_;
  routes.admin_token = cfg_.admin_token;
  routes.admin_token_previous = cfg_.admin_prev;
  routes.ready = [this](std::string& why) { return store_->healthy(why); };
  if (!cfg_.admin_token.empty()) {
    routes.api = [this](http::Request&& req, const http::ConnInfo& info, http::Done done) {
      admin_.handle_api(std::move(req), info, std::move(done));
    };
  } else {
    routes.api = [](http::Request&& req, const http::ConnInfo&, http::Done done) {
      done(http::json_response(req, http::bhttp::status::forbidden,
                               R"({"error":"admin API disabled: start the tracker with --admin-token-file"})"));
    };
  }
  routes.other = [this](const http::Request& req, http::Response& res) { return admin_.handle_public(req, res); };
  return routes;
}

void Tracker::bind() {
  bind_http(cfg_.http_addrs, "http-listen", false, http_bound_);
  bind_http(cfg_.https_addrs, "https-listen", true, https_bound_);
  bind_udp();
  bind_admin();
}

void Tracker::bind_http(const std::vector<net::HostPort>& addrs, const char* key, bool tls,
                        std::vector<std::string>& bound) {
  http::ServerMetrics sm;
  sm.connections_accepted = &tm_.http_connections.with({"accepted"});
  sm.connections_rejected = &tm_.http_connections.with({"rejected"});
  sm.bad_requests = &tm_.http_bad_requests;
  sm.timeouts = &tm_.http_timeouts;
  sm.open_connections = &tm_.http_open;
  for (const auto& hp : addrs) {
    auto srv = std::make_shared<http::Server>(pool_, boost::asio::ip::tcp::endpoint(hp.address, hp.port),
                                              cfg_.http_limits, tracker_http_, sm, tls ? cfg_.tls : nullptr);
    start_listener(key, [&] { srv->start(); }, net::format(hp.address, hp.port));
    bound.push_back(net::format(srv->local_endpoint()));
    http_servers_.push_back(srv);
  }
}

void Tracker::bind_udp() {
  for (const auto& hp : cfg_.udp_addrs) {
    auto srv = std::make_unique<UdpServer>(pool_, boost::asio::ip::udp::endpoint(hp.address, hp.port), handler_, ids_,
                                           tm_);
    srv->set_shedding(cfg_.udp_shed);
    start_listener("udp-listen", [&] { srv->start(); }, net::format(hp.address, hp.port));
    udp_bound_.push_back(net::format(srv->local_endpoint()));
    udp_servers_.push_back(std::move(srv));
  }
}

void Tracker::bind_admin() {
  const auto& hp = cfg_.admin_addr;
  admin_srv_ = std::make_shared<http::Server>(pool_, boost::asio::ip::tcp::endpoint(hp.address, hp.port),
                                              cfg_.admin_limits, make_admin_handler(admin_routes()),
                                              http::ServerMetrics{}, cfg_.admin_tls ? cfg_.tls : nullptr);
  start_listener("admin-listen", [&] { admin_srv_->start(); }, net::format(hp.address, hp.port));
}

// Once a second: load estimate and interval factor; every few seconds: expiry of silent
// peers and idle rate-limit buckets — bounded, periodic, off the announce path.
void Tracker::maintain() {
  admission_.tick();
  tm_.interval.set(cfg_.policy.interval * admission_.interval_factor());
  if (++ticks_ % kStoreMaintainEveryTicks == 0) store_->maintain();
  if (ticks_ % kAdmissionSweepEveryTicks == 0) admission_.sweep();
}

void Tracker::start() {
  maintenance_.start();
  loop_lag_.start();
  pool_.start();
}

Json Tracker::ready_line() const {
  Json ready = Json::object();
  ready["http"] = listener_json(http_bound_);
  if (!https_bound_.empty()) ready["https"] = listener_json(https_bound_);
  ready["udp"] = listener_json(udp_bound_);
  ready["admin"] = net::format(admin_srv_->local_endpoint());
  return ready;
}

void Tracker::reload_locality() {
  std::string reload_error;
  if (locality_.reload(reload_error))
    log::info("locality data reloaded", {{"reloads", std::to_string(locality_.reloads())}});
  else
    log::error("locality reload failed; keeping the previous data", {{"error", reload_error}});
}

void Tracker::stop() {
  for (auto& s : http_servers_) s->stop();
  for (auto& s : udp_servers_) s->stop();
  admin_srv_->stop();
  maintenance_.stop();
  loop_lag_.stop();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.grace_ms);
  while (tm_.http_open.value() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(kDrainPoll);
  pool_.stop_now();
  // Before the I/O contexts go: late Redis replies must find them still there.
  store_.reset();
}

}  // namespace

int run_tracker(const config::Values& v) {
  ServerSignals signals(/*catch_reload=*/true);  // first: every thread started below inherits the mask
  apply_log_level(v);
  Tracker tracker(read_config(v));
  tracker.bind();
  tracker.start();
  print_ready_line(tracker.ready_line());
  log::info("tracker started", {{"releases", std::to_string(tracker.releases())},
                                {"mode", v.boolean("open") ? "open" : "private"},
                                {"threads", std::to_string(io_threads(v))}});
  int sig = signals.wait([&] { tracker.reload_locality(); });
  log::info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  tracker.stop();
  log::info("stopped");
  return 0;
}

}  // namespace otaswarm

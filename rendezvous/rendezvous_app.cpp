#include "rendezvous/rendezvous_app.h"

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/http/server.h"
#include "common/io_pool.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rate_limit.h"
#include "common/redis/store_url.h"
#include "common/server.h"
#include "rendezvous/api.h"
#include "rendezvous/metrics.h"
#include "rendezvous/relay_budget.h"
#include "rendezvous/store/redis_registration_store.h"
#include "rendezvous/store/registration_store.h"
#include "rendezvous/stun_server.h"

namespace otaswarm::rendezvous {

using config::ConfigError;
using config::Kind;

config::Schema rendezvous_schema() {
  config::Schema s("otaswarm-rendezvous",
                   "STUN (RFC 8489 + RFC 5780) NAT classification, hole-punch coordination, TURN credentials");
  s.add("stun-listen", Kind::string, "primary STUN address ip:port (UDP and TCP)", {"0.0.0.0:3478"})
      .add("alt-ip", Kind::string, "second IP for RFC 5780 OTHER-ADDRESS / CHANGE-REQUEST (empty: none)", {""})
      .add("alt-port", Kind::integer, "second STUN port (0: primary port + 1, or a free port with port 0)", {"0"})
      .add("api-listen", Kind::string, "device-facing HTTP API ip:port", {"0.0.0.0:8480"})
      .add("admin-listen", Kind::string, "admin HTTP (/metrics /healthz /readyz) ip:port", {"127.0.0.1:9480"})
      .add("admin-token-file", Kind::string, "bearer token for /api/ on the admin listener", {""})
      .add("token-key-file", Kind::string, "HMAC key of device tokens (shared with the tracker)", {""})
      .add("token-key-previous-file", Kind::string, "previous device-token key during a rotation", {""})
      .add("nat-ticket-key-file", Kind::string, "HMAC key of NAT tickets (default: the token key)", {""})
      .add("nat-ticket-key-previous-file", Kind::string, "previous NAT-ticket key during a rotation", {""})
      .add("nat-ticket-ttl", Kind::integer, "NAT ticket lifetime, seconds", {"3600"})
      .add("turn-secret-file", Kind::string, "coturn static-auth-secret", {""})
      .add("turn-uri", Kind::list, "TURN URI handed to devices (repeatable)", {})
      .add("turn-ttl", Kind::integer, "TURN credential lifetime, seconds", {"600"})
      .add("store", Kind::string,
           "registration store: memory, redis://host:port or redis-cluster://host:port,... (shared by replicas)",
           {"memory"})
      .add("replica-id", Kind::string, "name of this replica in the store", {"local"})
      .add("max-registrations", Kind::integer, "registrations kept at most", {"1000000"})
      .add("registration-ttl", Kind::integer, "registration lifetime without refresh, seconds", {"120"})
      .add("punch-lead-ms", Kind::integer, "delay from connect to the common punch start, ms", {"400"})
      .add("software", Kind::string, "STUN SOFTWARE attribute (empty: none)", {"otaswarm-rendezvous"})
      .add("rate-per-address", Kind::number, "STUN requests/s per IPv4 address or IPv6 /64 (CGN-sized)", {"2000"})
      .add("rate-per-address-burst", Kind::number, "burst per address", {"4000"})
      .add("rate-per-device", Kind::number, "authenticated requests/s per device", {"5"})
      .add("rate-per-device-burst", Kind::number, "burst per device", {"20"})
      .add("rate-max-keys", Kind::integer, "rate-limit table size (keys per limiter)", {"100000"})
      .add("relay-budget-bytes-per-second", Kind::number, "relay budget of one release, bytes/s",
           {std::to_string(static_cast<int64_t>(kDefaultRelayBudget.release_bytes_per_second))})
      .add("relay-session-bytes-per-second", Kind::number, "rate one relayed pair may use, bytes/s",
           {std::to_string(static_cast<int64_t>(kDefaultRelayBudget.session_bytes_per_second))})
      .add("relay-max-allocations", Kind::integer, "concurrent relay sessions per release",
           {std::to_string(kDefaultRelayBudget.max_allocations)})
      .add("relay-session-ttl", Kind::integer, "relay slot lifetime without renewal, seconds",
           {std::to_string(kDefaultRelayBudget.session_ttl_ms / 1000)})
      .add("tcp-max-connections", Kind::integer, "open STUN-over-TCP connections at most", {"10000"})
      .add("threads", Kind::integer, "I/O threads (0: one per core)", {"0"})
      .add("log-level", Kind::string, "debug, info, warn, error", {"info"});
  return s;
}

namespace {

constexpr auto kMaintainPeriod = std::chrono::seconds(1);  // store upkeep: re-sync after an outage
constexpr int kExpiryEveryTicks = 5;                         // expiry scans every 5 s

// Every setting, read and checked before anything starts (a ConfigError here is exit 2).
struct RendezvousConfig {
  StoreUrl store;
  StunBind bind;
  net::HostPort api_addr, admin_addr;
  HandlerConfig handler;
  size_t threads = 1;
  RelayBudgetConfig relay;
  size_t max_registrations = 0;
  ApiConfig api;
  std::string admin_token;
};

StunBind read_stun_bind(const config::Values& v) {
  StunBind bind;
  bind.primary = listen_address("stun-listen", v.str("stun-listen"));
  if (!v.str("alt-ip").empty()) {
    auto a = net::parse_address(v.str("alt-ip"));
    if (!a) throw ConfigError("alt-ip", "expected an IP address, got \"" + v.str("alt-ip") + "\"");
    if (*a == bind.primary.address) throw ConfigError("alt-ip", "must differ from the --stun-listen address");
    if (a->is_v4() != bind.primary.address.is_v4())
      throw ConfigError("alt-ip", "must be of the same family as the --stun-listen address");
    bind.alt_ip = *a;
  }
  bind.alt_port = static_cast<uint16_t>(v.integer("alt-port", 0, 65535));
  if (bind.alt_port != 0 && bind.alt_port == bind.primary.port)
    throw ConfigError("alt-port", "must differ from the --stun-listen port");
  bind.max_tcp_connections = static_cast<size_t>(v.integer("tcp-max-connections", 1, 1'000'000));
  return bind;
}

HandlerConfig read_handler_config(const config::Values& v) {
  HandlerConfig hc;
  hc.device_keys = token::KeyRing(optional_secret(v, "token-key-file"), optional_secret(v, "token-key-previous-file"));
  std::string ticket_key = optional_secret(v, "nat-ticket-key-file");
  hc.ticket_key = ticket_key.empty() ? hc.device_keys.current() : ticket_key;
  hc.ticket_ttl_s = v.integer("nat-ticket-ttl", 60, 7 * 86400);
  hc.turn_secret = optional_secret(v, "turn-secret-file");
  hc.turn_ttl_s = v.integer("turn-ttl", 30, 86400);
  hc.replica = v.str("replica-id");
  if (hc.replica.empty()) throw ConfigError("replica-id", "must not be empty");
  hc.registration_ttl_s = v.integer("registration-ttl", 10, 3600);
  hc.punch_lead_ms = v.integer("punch-lead-ms", 0, 10'000);
  hc.software = v.str("software");
  if (hc.software.size() > stun::kMaxSoftwareLength) throw ConfigError("software", "too long");
  return hc;
}

RateLimit read_device_rate(const config::Values& v) {
  return {v.number("rate-per-device", 0, 1e6), v.number("rate-per-device-burst", 1, 1e6)};
}

RelayBudgetConfig read_relay_budget(const config::Values& v) {
  RelayBudgetConfig rb;
  rb.release_bytes_per_second = v.number("relay-budget-bytes-per-second", 0, 1e12);
  rb.session_bytes_per_second = v.number("relay-session-bytes-per-second", 1, 1e12);
  rb.max_allocations = static_cast<size_t>(v.integer("relay-max-allocations", 0, 1'000'000));
  rb.session_ttl_ms = v.integer("relay-session-ttl", 10, 86400) * 1000;
  return rb;
}

RendezvousConfig read_config(const config::Values& v) {
  RendezvousConfig c;
  std::string store_error;
  auto store = parse_store_url(v.str("store"), store_error);
  if (!store) throw ConfigError("store", store_error);
  c.store = *store;
  c.bind = read_stun_bind(v);
  c.api_addr = listen_address("api-listen", v.str("api-listen"));
  c.admin_addr = listen_address("admin-listen", v.str("admin-listen"));
  c.handler = read_handler_config(v);
  c.threads = io_threads(v);
  // One limiter per kind, shared by all I/O threads (sharded locks): the configured rates hold
  // however a device spreads its requests over sockets and threads.
  c.handler.per_address = {v.number("rate-per-address", 0, 1e9), v.number("rate-per-address-burst", 1, 1e9)};
  c.handler.per_device = read_device_rate(v);
  c.handler.max_rate_keys = static_cast<size_t>(v.integer("rate-max-keys", 16, 100'000'000));
  c.relay = read_relay_budget(v);
  c.max_registrations = static_cast<size_t>(v.integer("max-registrations", 1, 100'000'000));
  c.api.device_keys = c.handler.device_keys;
  c.api.turn_secret = c.handler.turn_secret;
  c.api.turn_uris = v.list("turn-uri");
  c.api.turn_ttl_s = c.handler.turn_ttl_s;
  c.api.per_device = read_device_rate(v);
  c.api.max_rate_keys = c.handler.max_rate_keys;
  c.admin_token = optional_secret(v, "admin-token-file");
  return c;
}

// Memory (one replica) or Redis / Redis Cluster shared by every replica; `redis` is set for the latter.
std::unique_ptr<RegistrationStore> open_registration_store(const RendezvousConfig& c, metrics::Registry& registry,
                                                           RedisRegistrationStore*& redis) {
  if (c.store.kind == StoreUrl::Kind::memory) {
    registry.callback("otaswarm_rendezvous_store_degraded",
                      "1 while the shared registration store cannot be reached (registrations stay local)",
                      [] { return std::vector<metrics::Sample>{{{}, 0.0}}; });
    return std::make_unique<MemoryRegistrationStore>(c.max_registrations);
  }
  if (c.handler.replica == "local") log::warn("shared store with the default --replica-id \"local\": give each replica its own");
  RedisRegistrationOptions ro;
  ro.subscribe_nodes = c.store.nodes;
  ro.username = c.store.username;
  ro.password = c.store.password;
  auto rs = std::make_unique<RedisRegistrationStore>(make_redis_client(c.store), ro, c.handler.replica,
                                                     c.max_registrations, &registry);
  redis = rs.get();
  return rs;
}

// The running rendezvous: its parts in construction order, then its listeners.
class Rendezvous {
 public:
  explicit Rendezvous(RendezvousConfig cfg);
  void bind();   // STUN sockets, device API, admin; a failure is a ConfigError naming the flag
  void start();  // STUN receive loops, store upkeep, I/O threads
  Json ready_line() const;
  void stop();  // stop accepting, let in-flight work finish, close the store
  std::string stun_address() const { return stun_.config().local[0].text(); }

 private:
  AdminRoutes admin_routes();
  void maintain();

  RendezvousConfig cfg_;
  const Clock& clock_ = SystemClock::instance();
  metrics::Registry registry_;
  Metrics metrics_;
  RedisRegistrationStore* redis_store_ = nullptr;  // before store_: open_registration_store sets it
  std::unique_ptr<RegistrationStore> store_;
  RelayBudget relay_;
  IoPool pool_;
  RateLimiter per_address_, per_device_;
  StunServer stun_;
  DeviceApi api_;
  std::shared_ptr<http::Server> api_server_, admin_server_;
  int ticks_ = 0;
  PeriodicTask maintenance_;
};

Rendezvous::Rendezvous(RendezvousConfig cfg)
    : cfg_(std::move(cfg)),
      metrics_(registry_),
      store_(open_registration_store(cfg_, registry_, redis_store_)),
      relay_(cfg_.relay),
      pool_(cfg_.threads),
      per_address_(cfg_.handler.per_address, cfg_.handler.max_rate_keys, clock_),
      per_device_(cfg_.handler.per_device, cfg_.handler.max_rate_keys, clock_),
      stun_(pool_, cfg_.handler, Shared{*store_, relay_, metrics_, clock_, &per_address_, &per_device_}),
      api_(cfg_.api, metrics_, clock_),
      maintenance_(pool_.at(0), kMaintainPeriod, [this] { maintain(); }) {
  registry_.callback("otaswarm_rendezvous_registrations", "Live device registrations",
                     [this] { return std::vector<metrics::Sample>{{{}, static_cast<double>(store_->size())}}; });
}

AdminRoutes Rendezvous::admin_routes() {
  AdminRoutes routes;
  routes.registry = &registry_;
  routes.admin_token = cfg_.admin_token;
  routes.ready = [this](std::string& why) { return store_->healthy(why); };
  return routes;
}

void Rendezvous::bind() {
  start_listener("stun-listen", [&] { stun_.bind(cfg_.bind); });  // its errors name the socket
  const auto& api = cfg_.api_addr;
  api_server_ = std::make_shared<http::Server>(pool_, boost::asio::ip::tcp::endpoint(api.address, api.port),
                                               http::Limits{}, api_.handler());
  const auto& admin = cfg_.admin_addr;
  admin_server_ = std::make_shared<http::Server>(pool_, boost::asio::ip::tcp::endpoint(admin.address, admin.port),
                                                 http::Limits{}, make_admin_handler(admin_routes()));
  start_listener("api-listen", [&] { api_server_->start(); }, net::format(api.address, api.port));
  start_listener("admin-listen", [&] { admin_server_->start(); }, net::format(admin.address, admin.port));
}

void Rendezvous::maintain() {
  int64_t now = clock_.unix_seconds() * 1000;
  if (++ticks_ % kExpiryEveryTicks == 0) store_->expire(now);
  store_->maintain(now);
}

void Rendezvous::start() {
  stun_.start();
  maintenance_.start();
  pool_.start();
}

Json Rendezvous::ready_line() const {
  const auto& local = stun_.config().local;
  Json ready = Json::object();
  ready["stun"] = local[0].text();
  // The RFC 5780 OTHER-ADDRESS; without --alt-ip, the alternate port on the primary IP.
  const auto& alt = local[kAltIpBit | kAltPortBit];
  ready["stun_alt"] = alt.empty() ? local[kAltPortBit].text() : alt.text();
  Json socks = Json::array();
  for (const auto& e : local)
    if (!e.empty()) socks.push_back(e.text());
  ready["stun_sockets"] = std::move(socks);
  ready["stun_tcp"] = net::format(stun_.tcp_endpoint());
  ready["api"] = net::format(api_server_->local_endpoint());
  ready["admin"] = net::format(admin_server_->local_endpoint());
  return ready;
}

void Rendezvous::stop() {
  stun_.stop();
  api_server_->stop();
  admin_server_->stop();
  maintenance_.stop();
  pool_.drain_and_join();
  // After the STUN threads: nothing calls the store any more, and notices stop arriving.
  if (redis_store_) redis_store_->close();
}

}  // namespace

int run_rendezvous(const config::Values& v) {
  ServerSignals signals;  // first: every thread started below inherits the mask
  apply_log_level(v);
  auto cfg = read_config(v);
  if (cfg.handler.device_keys.empty()) log::warn("no --token-key-file: register, connect and TURN credentials are refused");
  Rendezvous rendezvous(std::move(cfg));
  rendezvous.bind();
  rendezvous.start();
  print_ready_line(rendezvous.ready_line());
  log::info("rendezvous ready", {{"stun", rendezvous.stun_address()}, {"threads", std::to_string(io_threads(v))}});
  signals.wait();
  log::info("shutting down");
  rendezvous.stop();
  return 0;
}

}  // namespace otaswarm::rendezvous

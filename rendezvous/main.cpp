// otaswarm-rendezvous: STUN NAT classification, hole-punch coordination, TURN credentials.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/http/server.h"
#include "common/io_pool.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/server.h"
#include "common/redis/store_url.h"
#include "rendezvous/api.h"
#include "rendezvous/metrics.h"
#include "rendezvous/store/redis_registration_store.h"
#include "rendezvous/relay_budget.h"
#include "rendezvous/store/registration_store.h"
#include "rendezvous/stun_server.h"

namespace {

using namespace otaswarm;
using config::Kind;

constexpr int64_t kMaxThreads = 256;
constexpr auto kMaintainPeriod = std::chrono::seconds(1);  // store upkeep: re-sync after an outage
constexpr int kExpiryEveryTicks = 5;                         // expiry scans every 5 s

config::Schema schema() {
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
           {std::to_string(static_cast<int64_t>(rendezvous::kDefaultRelayBudget.release_bytes_per_second))})
      .add("relay-session-bytes-per-second", Kind::number, "rate one relayed pair may use, bytes/s",
           {std::to_string(static_cast<int64_t>(rendezvous::kDefaultRelayBudget.session_bytes_per_second))})
      .add("relay-max-allocations", Kind::integer, "concurrent relay sessions per release",
           {std::to_string(rendezvous::kDefaultRelayBudget.max_allocations)})
      .add("relay-session-ttl", Kind::integer, "relay slot lifetime without renewal, seconds",
           {std::to_string(rendezvous::kDefaultRelayBudget.session_ttl_ms / 1000)})
      .add("tcp-max-connections", Kind::integer, "open STUN-over-TCP connections at most", {"10000"})
      .add("threads", Kind::integer, "I/O threads (0: one per core)", {"0"})
      .add("log-level", Kind::string, "debug, info, warn, error", {"info"});
  return s;
}

net::HostPort listen_addr(const config::Values& v, const std::string& key) {
  auto hp = net::parse_host_port(v.str(key));
  if (!hp) throw config::ConfigError(key, "expected ip:port, got \"" + v.str(key) + "\"");
  return *hp;
}

std::string optional_secret(const config::Values& v, const std::string& key) {
  auto path = v.str(key);
  return path.empty() ? std::string() : config::read_secret_file(key, path);
}

int run(const std::vector<std::string>& args) {
  auto sch = schema();
  auto parsed = config::parse(sch, args);
  if (parsed.help_requested) {
    std::cout << sch.help_text();
    return 0;
  }
  const auto& v = parsed.values;
  log::Level lvl;
  if (!log::parse_level(v.str("log-level"), lvl)) throw config::ConfigError("log-level", "expected debug, info, warn or error");
  log::set_level(lvl);
  std::string store_error;
  auto store_url = parse_store_url(v.str("store"), store_error);
  if (!store_url) throw config::ConfigError("store", store_error);

  rendezvous::StunBind bind;
  bind.primary = listen_addr(v, "stun-listen");
  if (!v.str("alt-ip").empty()) {
    auto a = net::parse_address(v.str("alt-ip"));
    if (!a) throw config::ConfigError("alt-ip", "expected an IP address, got \"" + v.str("alt-ip") + "\"");
    if (*a == bind.primary.address) throw config::ConfigError("alt-ip", "must differ from the --stun-listen address");
    if (a->is_v4() != bind.primary.address.is_v4())
      throw config::ConfigError("alt-ip", "must be of the same family as the --stun-listen address");
    bind.alt_ip = *a;
  }
  bind.alt_port = static_cast<uint16_t>(v.integer("alt-port", 0, 65535));
  if (bind.alt_port != 0 && bind.alt_port == bind.primary.port)
    throw config::ConfigError("alt-port", "must differ from the --stun-listen port");
  bind.max_tcp_connections = static_cast<size_t>(v.integer("tcp-max-connections", 1, 1'000'000));
  auto api_addr = listen_addr(v, "api-listen");
  auto admin_addr = listen_addr(v, "admin-listen");

  rendezvous::HandlerConfig hc;
  hc.device_keys = token::KeyRing(optional_secret(v, "token-key-file"), optional_secret(v, "token-key-previous-file"));
  std::string ticket_key = optional_secret(v, "nat-ticket-key-file");
  hc.ticket_key = ticket_key.empty() ? hc.device_keys.current() : ticket_key;
  hc.ticket_ttl_s = v.integer("nat-ticket-ttl", 60, 7 * 86400);
  hc.turn_secret = optional_secret(v, "turn-secret-file");
  hc.turn_ttl_s = v.integer("turn-ttl", 30, 86400);
  hc.replica = v.str("replica-id");
  if (hc.replica.empty()) throw config::ConfigError("replica-id", "must not be empty");
  hc.registration_ttl_s = v.integer("registration-ttl", 10, 3600);
  hc.punch_lead_ms = v.integer("punch-lead-ms", 0, 10'000);
  hc.software = v.str("software");
  if (hc.software.size() > stun::kMaxSoftwareLength) throw config::ConfigError("software", "too long");
  auto threads = v.integer("threads", 0, kMaxThreads);
  if (threads == 0) threads = std::max<int64_t>(1, std::thread::hardware_concurrency());
  // One limiter per kind, shared by all I/O threads (sharded locks): the configured rates hold
  // however a device spreads its requests over sockets and threads.
  hc.per_address = {v.number("rate-per-address", 0, 1e9), v.number("rate-per-address-burst", 1, 1e9)};
  hc.per_device = {v.number("rate-per-device", 0, 1e6), v.number("rate-per-device-burst", 1, 1e6)};
  hc.max_rate_keys = static_cast<size_t>(v.integer("rate-max-keys", 16, 100'000'000));
  rendezvous::RelayBudgetConfig rb;
  rb.release_bytes_per_second = v.number("relay-budget-bytes-per-second", 0, 1e12);
  rb.session_bytes_per_second = v.number("relay-session-bytes-per-second", 1, 1e12);
  rb.max_allocations = static_cast<size_t>(v.integer("relay-max-allocations", 0, 1'000'000));
  rb.session_ttl_ms = v.integer("relay-session-ttl", 10, 86400) * 1000;
  auto max_regs = static_cast<size_t>(v.integer("max-registrations", 1, 100'000'000));

  rendezvous::ApiConfig ac;
  ac.device_keys = hc.device_keys;
  ac.turn_secret = hc.turn_secret;
  ac.turn_uris = v.list("turn-uri");
  ac.turn_ttl_s = hc.turn_ttl_s;
  ac.per_device = {v.number("rate-per-device", 0, 1e6), v.number("rate-per-device-burst", 1, 1e6)};
  ac.max_rate_keys = hc.max_rate_keys;
  std::string admin_token = optional_secret(v, "admin-token-file");
  if (hc.device_keys.empty()) log::warn("no --token-key-file: register, connect and TURN credentials are refused");

  const Clock& clock = SystemClock::instance();
  metrics::Registry registry;
  rendezvous::Metrics rm(registry);
  std::unique_ptr<rendezvous::RegistrationStore> store_owner;
  rendezvous::RedisRegistrationStore* redis_store = nullptr;
  if (store_url->kind == StoreUrl::Kind::memory) {
    store_owner = std::make_unique<rendezvous::MemoryRegistrationStore>(max_regs);
    registry.callback("otaswarm_rendezvous_store_degraded",
                      "1 while the shared registration store cannot be reached (registrations stay local)",
                      [] { return std::vector<metrics::Sample>{{{}, 0.0}}; });
  } else {
    if (hc.replica == "local") log::warn("shared store with the default --replica-id \"local\": give each replica its own");
    rendezvous::RedisRegistrationOptions ro;
    ro.subscribe_nodes = store_url->nodes;
    ro.username = store_url->username;
    ro.password = store_url->password;
    auto rs = std::make_unique<rendezvous::RedisRegistrationStore>(make_redis_client(*store_url), ro, hc.replica,
                                                                   max_regs, &registry);
    redis_store = rs.get();
    store_owner = std::move(rs);
  }
  auto& store = *store_owner;
  rendezvous::RelayBudget relay(rb);
  registry.callback("otaswarm_rendezvous_registrations", "Live device registrations",
                    [&store] { return std::vector<metrics::Sample>{{{}, static_cast<double>(store.size())}}; });

  IoPool pool(static_cast<size_t>(threads));
  RateLimiter per_address(hc.per_address, hc.max_rate_keys, clock);
  RateLimiter per_device(hc.per_device, hc.max_rate_keys, clock);
  rendezvous::StunServer stun_server(pool, hc, rendezvous::Shared{store, relay, rm, clock, &per_address, &per_device});
  try {
    stun_server.bind(bind);
  } catch (const std::exception& e) {
    throw config::ConfigError("stun-listen", e.what());
  }
  rendezvous::DeviceApi api(ac, rm, clock);
  auto api_server = std::make_shared<http::Server>(pool, boost::asio::ip::tcp::endpoint(api_addr.address, api_addr.port),
                                                   http::Limits{}, api.handler());
  AdminRoutes routes;
  routes.registry = &registry;
  routes.admin_token = admin_token;
  routes.ready = [&store](std::string& why) { return store.healthy(why); };
  auto admin_server = std::make_shared<http::Server>(
      pool, boost::asio::ip::tcp::endpoint(admin_addr.address, admin_addr.port), http::Limits{},
      make_admin_handler(std::move(routes)));
  try {
    api_server->start();
  } catch (const std::exception& e) {
    throw config::ConfigError("api-listen", e.what());
  }
  try {
    admin_server->start();
  } catch (const std::exception& e) {
    throw config::ConfigError("admin-listen", e.what());
  }

  // Signals are caught before the ready line, so a supervisor may stop us as soon as it reads it.
  boost::asio::io_context signals_io;
  auto signals = std::make_unique<boost::asio::signal_set>(signals_io, SIGINT, SIGTERM);
  signals->async_wait([](boost::system::error_code, int) {});

  stun_server.start();
  boost::asio::steady_timer sweep(pool.at(0));
  int ticks = 0;
  std::function<void()> arm = [&] {
    sweep.expires_after(kMaintainPeriod);
    sweep.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      int64_t now = clock.unix_seconds() * 1000;
      if (++ticks % kExpiryEveryTicks == 0) store.expire(now);
      store.maintain(now);
      arm();
    });
  };
  arm();
  pool.start();

  const auto& local = stun_server.config().local;
  Json ready = Json::object();
  ready["stun"] = local[0].text();
  // The RFC 5780 OTHER-ADDRESS; without --alt-ip, the alternate port on the primary IP.
  const auto& alt = local[rendezvous::kAltIpBit | rendezvous::kAltPortBit];
  ready["stun_alt"] = alt.empty() ? local[rendezvous::kAltPortBit].text() : alt.text();
  Json socks = Json::array();
  for (const auto& e : local)
    if (!e.empty()) socks.push_back(e.text());
  ready["stun_sockets"] = std::move(socks);
  ready["stun_tcp"] = net::format(stun_server.tcp_endpoint());
  ready["api"] = net::format(api_server->local_endpoint());
  ready["admin"] = net::format(admin_server->local_endpoint());
  print_ready_line(ready);
  log::info("rendezvous ready", {{"stun", local[0].text()}, {"threads", std::to_string(threads)}});

  signals_io.run();
  // Shutdown has begun: a repeated SIGTERM/SIGINT (supervisors re-send) must not kill it midway.
  // The set goes first because removing it restores the default (fatal) disposition.
  signals.reset();
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);

  log::info("shutting down");
  stun_server.stop();
  api_server->stop();
  admin_server->stop();
  boost::asio::post(pool.at(0), [&] { sweep.cancel(); });
  pool.drain_and_join();
  // After the STUN threads: nothing calls the store any more, and notices stop arriving.
  if (redis_store) redis_store->close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return otaswarm::config::guarded_main([&] { return run(args); });
}

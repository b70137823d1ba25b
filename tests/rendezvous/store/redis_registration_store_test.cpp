// The rendezvous registration store on a real redis-server and a real 3-master Redis Cluster:
// one store per simulated replica, registrations found across them, TTLs, the endpoint index,
// notices by PUBLISH/SUBSCRIBE, a connect across replicas through two StunHandlers, and
// Redis unreachable (local registrations, fast failures, never a hang).
#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <thread>

#include "tracker/store/store_factory.h"
#include "common/proto/stun.h"
#include "common/proto/token.h"
#include "rendezvous/store/redis_registration_store.h"
#include "rendezvous/stun_handler.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::rendezvous {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 20s;  // bounds a broken test; the store answers within its deadlines

Endpoint ep(const char* text) {
  auto hp = net::parse_host_port(text);
  return Endpoint{hp->address, hp->port};
}

int64_t now_ms() { return SystemClock::instance().unix_seconds() * 1000; }

std::unique_ptr<RedisRegistrationStore> make(const std::string& url_text, const std::string& replica) {
  std::string err;
  auto url = parse_store_url(url_text, err);
  EXPECT_TRUE(url) << err;
  RedisRegistrationOptions o;
  o.subscribe_nodes = url->nodes;
  return std::make_unique<RedisRegistrationStore>(make_redis_client(*url), o, replica, 1000, nullptr);
}

template <typename Pred>
bool eventually(Pred pred) {
  auto end = std::chrono::steady_clock::now() + kLimit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

struct Fetched {
  std::optional<Registration> reg;
  bool ok = false;
};

Fetched fetch(RegistrationStore& s, const std::string& device) {
  auto p = std::make_shared<std::promise<Fetched>>();
  s.fetch(device, now_ms(), [p](std::optional<Registration> r, bool ok) { p->set_value({std::move(r), ok}); });
  auto f = p->get_future();
  EXPECT_EQ(f.wait_for(kLimit), std::future_status::ready);
  return f.get();
}

Fetched fetch_ep(RegistrationStore& s, const std::string& ih, const Endpoint& e) {
  auto p = std::make_shared<std::promise<Fetched>>();
  s.fetch_by_endpoint(ih, e, now_ms(), [p](std::optional<Registration> r, bool ok) { p->set_value({std::move(r), ok}); });
  auto f = p->get_future();
  EXPECT_EQ(f.wait_for(kLimit), std::future_status::ready);
  return f.get();
}

Registration reg(const std::string& device, const char* reflexive, const std::string& replica, int64_t ttl_ms = 60'000) {
  Registration r;
  r.device_id = device;
  r.info_hash = std::string(20, 'h');
  r.reflexive = ep(reflexive);
  r.lan = ep("10.0.0.7:6881");
  r.cls = nat::NatClass{nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent, false};
  r.replica = replica;
  r.socket_index = 1;
  r.expires_unix_ms = now_ms() + ttl_ms;
  return r;
}

TEST(RegistrationWire, RoundTripsAndRejectsGarbage) {
  auto r = reg("dev-\"quoted\"\n", "[2001:db8::1]:4000", "replica-7");
  r.info_hash = std::string("\0\xff\x01 binary info hash!", 20);
  auto back = decode_registration(encode_registration(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->device_id, r.device_id);
  EXPECT_EQ(back->info_hash, r.info_hash);
  EXPECT_EQ(back->reflexive, r.reflexive);
  EXPECT_EQ(back->lan, r.lan);
  EXPECT_EQ(back->cls, r.cls);
  EXPECT_EQ(back->replica, r.replica);
  EXPECT_EQ(back->socket_index, 1);
  EXPECT_EQ(back->expires_unix_ms, r.expires_unix_ms);
  EXPECT_FALSE(decode_registration("not json"));
  EXPECT_FALSE(decode_registration("{\"v\":2}"));
  EXPECT_FALSE(decode_registration("{\"v\":1,\"d\":\"x\"}"));

  Notice n{"r1", 3, ep("198.51.100.1:7000"), std::string("\x01\n\0stun", 7)};
  auto nb = decode_notice(encode_notice(n), "r1");
  ASSERT_TRUE(nb);
  EXPECT_EQ(nb->socket_index, 3);
  EXPECT_EQ(nb->to, n.to);
  EXPECT_EQ(nb->bytes, n.bytes);
  EXPECT_FALSE(decode_notice("9\n1.2.3.4:5\nx", "r1"));  // no such socket
  EXPECT_FALSE(decode_notice("1\nnonsense\nx", "r1"));
  EXPECT_FALSE(decode_notice("1", "r1"));
  EXPECT_EQ(decode_eviction(encode_eviction("phone\n1")), "phone\n1");
  EXPECT_FALSE(decode_eviction(encode_notice(n)));
  EXPECT_FALSE(decode_notice(encode_eviction("phone-1"), "r1"));
}

class Conformance : public ::testing::TestWithParam<bool> {
 protected:
  std::string url() const {
    return GetParam() ? otaswarm::testing::shared_cluster().url() : "redis://" + otaswarm::testing::shared_server().address();
  }
  std::string id(const std::string& name) const {
    return name + (GetParam() ? "-cluster" : "-single") + "-" + std::to_string(now_ms());
  }
};

TEST_P(Conformance, RegistrationOfOneReplicaIsFoundByAnother) {
  auto s1 = make(url(), "r1"), s2 = make(url(), "r2");
  auto r = reg(id("phone-a"), "203.0.113.9:4100", "r1");
  ASSERT_TRUE(s1->put(r, now_ms()));
  EXPECT_TRUE(s1->get(r.device_id, now_ms()));   // local, synchronous
  EXPECT_FALSE(s2->get(r.device_id, now_ms()));  // not local to the other replica
  ASSERT_TRUE(eventually([&] { return fetch(*s2, r.device_id).reg.has_value(); }));
  auto f = fetch(*s2, r.device_id);
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.reg->replica, "r1");
  EXPECT_EQ(f.reg->reflexive, r.reflexive);
  EXPECT_EQ(f.reg->socket_index, 1);
  auto by_ep = fetch_ep(*s2, r.info_hash, r.reflexive);
  ASSERT_TRUE(by_ep.reg);
  EXPECT_EQ(by_ep.reg->device_id, r.device_id);
  EXPECT_FALSE(fetch_ep(*s2, std::string(20, 'x'), r.reflexive).reg);  // other release
  EXPECT_FALSE(fetch_ep(*s2, r.info_hash, ep("203.0.113.9:4101")).reg);
  auto missing = fetch(*s2, id("phone-nobody"));
  EXPECT_TRUE(missing.ok);
  EXPECT_FALSE(missing.reg);
  std::string why;
  EXPECT_TRUE(eventually([&] { return s1->healthy(why); })) << why;
}

TEST_P(Conformance, ReRegistrationMovesTheDeviceAndTheIndexFollows) {
  auto s1 = make(url(), "r1"), s2 = make(url(), "r2"), s3 = make(url(), "r3");
  s1->subscribe("r1", [](const Notice&) {});
  ASSERT_TRUE(eventually([&] { return s1->subscribed(); }));
  auto r = reg(id("phone-m"), "203.0.113.10:4000", "r1");
  ASSERT_TRUE(s1->put(r, now_ms()));
  ASSERT_TRUE(eventually([&] { return fetch(*s3, r.device_id).reg.has_value(); }));
  auto moved = reg(r.device_id, "203.0.113.11:5000", "r2");
  ASSERT_TRUE(s2->put(moved, now_ms()));
  ASSERT_TRUE(eventually([&] {
    auto f = fetch(*s3, r.device_id);
    return f.reg && f.reg->replica == "r2";
  }));
  // The old replica is told to drop its copy, so it asks Redis instead of answering stale.
  EXPECT_TRUE(eventually([&] { return !s1->get(r.device_id, now_ms()).has_value(); }));
  EXPECT_TRUE(s2->get(r.device_id, now_ms()));
  // The old endpoint's index entry still exists until its TTL, but no longer matches the device.
  EXPECT_FALSE(fetch_ep(*s3, r.info_hash, r.reflexive).reg);
  EXPECT_TRUE(fetch_ep(*s3, r.info_hash, moved.reflexive).reg);
}

TEST_P(Conformance, RegistrationsExpireInRedis) {
  constexpr int64_t kTtlMs = 1500;
  auto s1 = make(url(), "r1"), s2 = make(url(), "r2");
  auto r = reg(id("phone-ttl"), "203.0.113.12:4000", "r1", kTtlMs);
  ASSERT_TRUE(s1->put(r, now_ms()));
  ASSERT_TRUE(eventually([&] { return fetch(*s2, r.device_id).reg.has_value(); }));
  // Redis itself forgets the keys (PX), nobody has to scan for them.
  std::vector<std::pair<std::string, otaswarm::testing::RedisServer*>> keys;
  for (const auto& key : {s1->device_key(r.device_id), s1->endpoint_key(r.info_hash, r.reflexive)}) {
    auto* node = GetParam() ? otaswarm::testing::shared_cluster().master_for_key(key)
                            : &otaswarm::testing::shared_server();
    ASSERT_NE(node, nullptr) << key;
    auto pttl = std::stoll(node->command({"PTTL", key}));
    EXPECT_GT(pttl, kTtlMs) << key;  // the copy outlives the registration, so refreshes need not extend it
    EXPECT_LE(pttl, kTtlMs * RedisRegistrationOptions{}.shared_lifetime_factor) << key;
    keys.emplace_back(key, node);
  }
  for (auto& [key, node] : keys)
    EXPECT_TRUE(eventually([&, k = key, n = node] { return n->command({"EXISTS", k}) == "0"; })) << key;
  EXPECT_FALSE(fetch(*s2, r.device_id).reg);
  EXPECT_FALSE(fetch_ep(*s2, r.info_hash, r.reflexive).reg);
}

TEST_P(Conformance, NoticeReachesTheNamedReplicaOnly) {
  auto s1 = make(url(), "r1"), s2 = make(url(), "r2");
  std::mutex mu;
  std::vector<Notice> on1, on2;
  s1->subscribe("r1", [&](const Notice& n) {
    std::lock_guard lk(mu);
    on1.push_back(n);
  });
  s2->subscribe("r2", [&](const Notice& n) {
    std::lock_guard lk(mu);
    on2.push_back(n);
  });
  std::string why;
  ASSERT_TRUE(eventually([&] { return s1->subscribed() && s2->subscribed() && s1->healthy(why); })) << why;
  s2->publish(Notice{"r1", 2, ep("198.51.100.4:7000"), "punch-bytes"});
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return !on1.empty();
  }));
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(on1[0].socket_index, 2);
    EXPECT_EQ(on1[0].to.text(), "198.51.100.4:7000");
    EXPECT_EQ(on1[0].bytes, "punch-bytes");
    EXPECT_TRUE(on2.empty());
  }
  s2->publish(Notice{"r2", 0, ep("198.51.100.5:7000"), "own"});  // own replica: delivered in process
  std::lock_guard lk(mu);
  ASSERT_EQ(on2.size(), 1u);
  EXPECT_EQ(on2[0].bytes, "own");
}

TEST_P(Conformance, ConnectAcrossReplicasThroughTheHandlers) {
  auto s1 = make(url(), "r1"), s2 = make(url(), "r2");
  ManualClock clock{SystemClock::instance().unix_seconds()};
  metrics::Registry registry;
  Metrics m{registry};
  RelayBudget relay{{1000, 500, 10, 60'000}};
  std::string key(32, 'k');
  auto make_cfg = [&](const char* replica) {
    HandlerConfig c;
    c.local = {ep("192.0.2.1:3478"), ep("192.0.2.1:3479"), {}, {}};
    c.device_keys = token::KeyRing(key);
    c.ticket_key = key;
    c.replica = replica;
    c.per_address = {1000, 1000};
    c.per_device = {100, 100};
    return c;
  };
  HandlerConfig c1 = make_cfg("r1"), c2 = make_cfg("r2");
  StunHandler h1(c1, Shared{*s1, relay, m, clock}), h2(c2, Shared{*s2, relay, m, clock});
  std::promise<Notice> heard;
  s1->subscribe("r1", [&](const Notice& n) { heard.set_value(n); });
  ASSERT_TRUE(eventually([&] { return s1->subscribed(); }));
  auto request = [&](uint16_t method, const std::string& dev, const std::string* peer) {
    stun::Builder b(method, stun::Class::request, stun::random_transaction_id());
    b.add(stun::attr::rdv_token, token::mint(key, dev, clock.unix_seconds() + 600))
        .add(stun::attr::rdv_info_hash, std::string(20, 'h'));
    if (peer) b.add(stun::attr::rdv_peer_id, *peer);
    b.add_fingerprint();
    return b.bytes();
  };
  std::string a = id("phone-a"), b = id("phone-b");
  ASSERT_EQ(h1.process({request(stun::method::rdv_register, a, nullptr), ep("203.0.113.1:6000"), 1}).outcome,
            Outcome::ok);
  ASSERT_EQ(h2.process({request(stun::method::rdv_register, b, nullptr), ep("198.51.100.2:7000"), 0}).outcome,
            Outcome::ok);
  ASSERT_TRUE(eventually([&] { return fetch(*s2, a).reg.has_value(); }));
  // Without a completion the handler answers from what this replica holds.
  auto sync = h2.process({request(stun::method::rdv_connect, b, &a), ep("198.51.100.2:7000"), 0});
  EXPECT_EQ(sync.outcome, Outcome::error);
  std::promise<Result> answered;
  auto r = h2.process({request(stun::method::rdv_connect, b, &a), ep("198.51.100.2:7000"), 0},
                      [&](Result&& res) { answered.set_value(std::move(res)); });
  ASSERT_EQ(r.outcome, Outcome::pending);
  auto f = answered.get_future();
  ASSERT_EQ(f.wait_for(kLimit), std::future_status::ready);
  auto res = f.get();
  ASSERT_EQ(res.outcome, Outcome::ok);
  ASSERT_EQ(res.replies.size(), 1u);
  EXPECT_EQ(res.replies[0].to.text(), "198.51.100.2:7000");
  auto n = heard.get_future();
  ASSERT_EQ(n.wait_for(kLimit), std::future_status::ready);
  auto notice = n.get();
  EXPECT_EQ(notice.socket_index, 1);  // the socket phone-a registered on, at replica r1
  EXPECT_EQ(notice.to.text(), "203.0.113.1:6000");
  auto parsed = stun::parse(notice.bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.message.method(), stun::method::rdv_punch);
}

// Write commands Redis has executed so far (INFO commandstats).
uint64_t write_commands(otaswarm::testing::RedisServer& server) {
  auto info = server.command({"INFO", "commandstats"});
  uint64_t total = 0;
  for (const char* cmd : {"set", "del", "eval", "pexpire", "expire", "publish", "xadd"}) {
    auto at = info.find(std::string("cmdstat_") + cmd + ":calls=");
    if (at != std::string::npos) total += std::stoull(info.substr(at + std::strlen("cmdstat_:calls=") + std::strlen(cmd)));
  }
  return total;
}

TEST(SteadyRefresh, UnchangedRefreshesCostAQuarterWriteOrLess) {
  constexpr int kDevices = 200, kRounds = 40;
  constexpr int64_t kTtlMs = 120'000, kRefreshMs = 25'000;  // the agent's cadence and the default lifetime
  otaswarm::testing::RedisServer server;
  auto s1 = make("redis://" + server.address(), "r1"), s2 = make("redis://" + server.address(), "r2");
  int64_t t0 = now_ms();
  auto at = [&](int device, int64_t t) {
    auto r = reg("steady-" + std::to_string(device), "203.0.113.30:4000", "r1");
    r.reflexive.port = static_cast<uint16_t>(10000 + device);
    r.expires_unix_ms = t + kTtlMs;
    return r;
  };
  for (int d = 0; d < kDevices; ++d) ASSERT_TRUE(s1->put(at(d, t0), t0));
  ASSERT_TRUE(eventually([&] { return fetch(*s2, "steady-" + std::to_string(kDevices - 1)).reg.has_value(); }));
  uint64_t before = write_commands(server);
  // Simulated time: kRounds refreshes 25 s apart, i.e. 1000 s of a steady fleet.
  for (int round = 1; round < kRounds; ++round) {
    int64_t t = t0 + round * kRefreshMs;
    for (int d = 0; d < kDevices; ++d) ASSERT_TRUE(s1->put(at(d, t), t));
  }
  // Every write has landed once a probe written after them is readable.
  ASSERT_TRUE(s1->put(reg("steady-probe", "203.0.113.31:4000", "r1"), now_ms()));
  ASSERT_TRUE(eventually([&] { return fetch(*s2, "steady-probe").reg.has_value(); }));
  double refreshes = static_cast<double>(kDevices) * (kRounds - 1);
  double per_refresh = static_cast<double>(write_commands(server) - before - 2) / refreshes;  // 2: the probe
  std::printf("Redis write commands per unchanged refresh: %.3f (%d devices, %d refreshes each, 25 s apart)\n",
              per_refresh, kDevices, kRounds - 1);
  EXPECT_LE(per_refresh, 0.25);
  // Every device is still found through the other replica at the end of the simulated time.
  int64_t end = t0 + (kRounds - 1) * kRefreshMs;
  for (int d = 0; d < kDevices; d += 37) {
    auto p = std::make_shared<std::promise<Fetched>>();
    s2->fetch("steady-" + std::to_string(d), end, [p](std::optional<Registration> r, bool ok) { p->set_value({r, ok}); });
    auto f = p->get_future();
    ASSERT_EQ(f.wait_for(kLimit), std::future_status::ready);
    EXPECT_TRUE(f.get().reg) << d;
  }
  // A change is written at once: the other replica sees the new endpoint.
  auto moved = at(5, end);
  moved.reflexive.port = 20005;
  ASSERT_TRUE(s1->put(moved, end));
  EXPECT_TRUE(eventually([&] {
    auto f = fetch(*s2, "steady-5");
    return f.reg && f.reg->reflexive.port == 20005;
  }));
}

TEST(SteadyRefresh, ExpiredRegistrationIsDeletedUnlessAnotherReplicaOwnsItNow) {
  otaswarm::testing::RedisServer server;
  auto s1 = make("redis://" + server.address(), "r1"), s2 = make("redis://" + server.address(), "r2");
  auto gone = reg("phone-gone", "203.0.113.40:4000", "r1"), moved = reg("phone-moved", "203.0.113.41:4000", "r1");
  ASSERT_TRUE(s1->put(gone, now_ms()));
  ASSERT_TRUE(s1->put(moved, now_ms()));
  ASSERT_TRUE(eventually([&] { return fetch(*s2, "phone-moved").reg.has_value(); }));
  // s1 is not subscribed, so it keeps its copy of phone-moved after phone-moved registers with r2.
  ASSERT_TRUE(s2->put(reg("phone-moved", "203.0.113.42:5000", "r2"), now_ms()));
  ASSERT_TRUE(eventually([&] {
    auto f = fetch(*s2, "phone-moved");
    return f.reg && f.reg->replica == "r2";
  }));
  // Both local registrations of s1 expire (a minute later, when the devices stopped refreshing).
  EXPECT_EQ(s1->expire(now_ms() + 120'000), 2u);
  EXPECT_TRUE(eventually([&] { return server.command({"EXISTS", s1->device_key("phone-gone")}) == "0"; }));
  auto f = fetch(*s2, "phone-moved");
  ASSERT_TRUE(f.reg);  // r2's record was not ours to delete
  EXPECT_EQ(f.reg->replica, "r2");
}

INSTANTIATE_TEST_SUITE_P(Redis, Conformance, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("Cluster") : std::string("Single"); });

TEST(RedisDown, RegistrationsStayLocalAndLookupsFailFast) {
  otaswarm::testing::RedisServer server;
  std::string url = "redis://" + server.address();
  server.stop();
  auto s = make(url, "r1");
  s->subscribe("r1", [](const Notice&) {});
  auto r = reg("phone-down", "203.0.113.20:4000", "r1");
  EXPECT_TRUE(s->put(r, now_ms()));
  EXPECT_TRUE(s->get("phone-down", now_ms()));
  auto t0 = std::chrono::steady_clock::now();
  auto f = fetch(*s, "phone-other");
  EXPECT_FALSE(f.ok);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  s->publish(Notice{"r2", 0, ep("198.51.100.1:1"), "x"});  // counted, no throw, no hang
  std::string why;
  EXPECT_FALSE(s->healthy(why));
  EXPECT_FALSE(why.empty());
  s->maintain(now_ms());
  // Redis back (empty): the local registration is written again.
  server.start();
  ASSERT_TRUE(eventually([&] {
    s->maintain(now_ms());
    return s->healthy(why);
  })) << why;
  EXPECT_TRUE(eventually([&] {
    s->maintain(now_ms());
    return fetch(*s, "phone-down").reg.has_value();
  }));
}

}  // namespace
}  // namespace otaswarm::rendezvous

#include "rendezvous/stun_handler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "common/proto/nat.h"
#include "common/proto/stun.h"
#include "common/proto/token.h"
#include "rendezvous/relay_budget.h"
#include "rendezvous/store/registration_store.h"

namespace otaswarm::rendezvous {
namespace {

Endpoint ep(const char* text) {
  auto hp = net::parse_host_port(text);
  return Endpoint{hp->address, hp->port};
}

class Handler : public ::testing::Test {
 protected:
  ManualClock clock{1'800'000'000};
  metrics::Registry registry;
  Metrics m{registry};
  MemoryRegistrationStore store{1000};
  RelayBudget relay{{1000, 500, 10, 60'000}};  // two relay sessions per release
  HandlerConfig cfg;
  std::unique_ptr<StunHandler> h;
  std::string key = std::string(32, 'k');
  std::vector<Notice> notices;

  void SetUp() override {
    cfg.local = {ep("192.0.2.1:3478"), ep("192.0.2.1:3479"), ep("192.0.2.2:3478"), ep("192.0.2.2:3479")};
    cfg.has_alt_ip = true;
    cfg.device_keys = token::KeyRing(key);
    cfg.ticket_key = key;
    cfg.turn_secret = "turn-secret";
    cfg.per_address = {1000, 1000};
    cfg.per_device = {100, 100};
    h = std::make_unique<StunHandler>(cfg, Shared{store, relay, m, clock});
    store.subscribe("local", [this](const Notice& n) { notices.push_back(n); });
  }
  Result send(const std::string& bytes, const char* from = "203.0.113.5:40000", int index = 0,
              Transport t = Transport::udp) {
    return h->process(Inbound{bytes, ep(from), index, t});
  }
  stun::Message parse_reply(const Result& r, std::string& keep) {
    EXPECT_EQ(r.replies.size(), 1u);
    keep = r.replies.at(0).bytes;
    auto p = stun::parse(keep);
    EXPECT_TRUE(p.ok());
    return p.message;
  }
  std::string tok(const std::string& dev) { return token::mint(key, dev, clock.unix_seconds() + 600); }
  std::string reg(const std::string& dev, nat::NatClass c, const char* lan = "10.0.0.2:6881") {
    stun::Builder b(stun::method::rdv_register, stun::Class::request, stun::random_transaction_id());
    auto l = ep(lan);
    b.add(stun::attr::rdv_token, tok(dev))
        .add(stun::attr::rdv_info_hash, std::string(20, 'h'))
        .add_xor_address(stun::attr::rdv_lan_address, l.address, l.port)
        .add(stun::attr::rdv_nat_class, std::string{char(c.mapping), char(c.filtering), char(c.public_address), 0})
        .add_fingerprint();
    return b.bytes();
  }
  std::string connect(const std::string& dev, const std::string& peer) {
    stun::Builder b(stun::method::rdv_connect, stun::Class::request, stun::random_transaction_id());
    b.add(stun::attr::rdv_token, tok(dev)).add(stun::attr::rdv_info_hash, std::string(20, 'h'))
        .add(stun::attr::rdv_peer_id, peer).add_fingerprint();
    return b.bytes();
  }
};

std::string binding(uint32_t change = 0, bool fingerprint = true) {
  stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
  if (change) b.add_u32(stun::attr::change_request, change);
  if (fingerprint) b.add_fingerprint();
  return b.bytes();
}

TEST_F(Handler, BindingCarriesRfc5780Attributes) {
  std::string keep;
  auto r = send(binding());
  ASSERT_EQ(r.outcome, Outcome::ok);
  auto msg = parse_reply(r, keep);
  EXPECT_EQ(msg.cls(), stun::Class::success);
  auto xa = stun::decode_xor_address(msg.find(stun::attr::xor_mapped_address)->value, msg.transaction_id);
  EXPECT_EQ(net::format(xa->address, xa->port), "203.0.113.5:40000");
  auto oa = stun::decode_address(msg.find(stun::attr::other_address)->value);
  EXPECT_EQ(net::format(oa->address, oa->port), "192.0.2.2:3479");
  auto ro = stun::decode_address(msg.find(stun::attr::response_origin)->value);
  EXPECT_EQ(net::format(ro->address, ro->port), "192.0.2.1:3478");
  EXPECT_TRUE(msg.has_fingerprint);
}

TEST_F(Handler, ChangeRequestPicksTheSocket) {
  EXPECT_EQ(send(binding(stun::kChangeIp | stun::kChangePort)).replies.at(0).from_index, 3);
  EXPECT_EQ(send(binding(stun::kChangePort)).replies.at(0).from_index, 1);
  EXPECT_EQ(send(binding(stun::kChangeIp), "203.0.113.5:40000", 1).replies.at(0).from_index, 3);
}

TEST_F(Handler, ResponsePortRedirectsToSameAddress) {
  stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
  b.add(stun::attr::response_port, std::string("\x1f\x90\0\0", 4)).add_fingerprint();
  auto r = send(b.bytes());
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_EQ(r.replies[0].to.text(), "203.0.113.5:8080");
}

TEST_F(Handler, UnknownComprehensionRequiredGets420) {
  stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
  b.add(0x0031, "abcd").add(0xC0DE, "optional is fine").add_fingerprint();
  std::string keep;
  auto msg = parse_reply(send(b.bytes()), keep);
  EXPECT_EQ(msg.cls(), stun::Class::error);
  EXPECT_EQ(stun::decode_error_code(msg.find(stun::attr::error_code)->value)->code, 420);
  EXPECT_EQ(stun::decode_unknown_attributes(msg.find(stun::attr::unknown_attributes)->value),
            std::vector<uint16_t>{0x0031});
}

TEST_F(Handler, NoAlternateAddressMeans420ForChangeRequest) {
  cfg.has_alt_ip = false;
  std::string keep;
  auto msg = parse_reply(send(binding(stun::kChangeIp)), keep);
  EXPECT_EQ(stun::decode_error_code(msg.find(stun::attr::error_code)->value)->code, 420);
}

TEST_F(Handler, DropsMalformedBadFingerprintAndResponses) {
  auto bad = binding();
  bad.back() ^= 1;
  auto r = send(bad);
  EXPECT_EQ(r.outcome, Outcome::dropped);
  EXPECT_EQ(r.drop_reason, "bad_fingerprint");
  EXPECT_TRUE(r.replies.empty());
  EXPECT_EQ(send("hello world, not stun at all").outcome, Outcome::dropped);
  stun::Builder resp(stun::method::binding, stun::Class::success, stun::random_transaction_id());
  EXPECT_EQ(send(resp.bytes()).drop_reason, "not_a_request");
}

TEST_F(Handler, AmplificationBounded) {
  for (auto req : {binding(0, false), binding(), binding(stun::kChangeIp)}) {
    for (auto from : {"203.0.113.5:1", "[2001:db8::1]:1"}) {
      auto r = send(req, from);
      ASSERT_EQ(r.replies.size(), 1u);
      EXPECT_LE(static_cast<double>(r.replies[0].bytes.size()), kMaxAmplification * req.size()) << from;
    }
  }
  // Tiny request: the mandatory XOR-MAPPED-ADDRESS is still there.
  std::string keep;
  auto msg = parse_reply(send(binding(0, false)), keep);
  EXPECT_TRUE(msg.find(stun::attr::xor_mapped_address));
}

TEST_F(Handler, PaddingNeverExceedsRequestSize) {
  stun::Builder b(stun::method::binding, stun::Class::request, stun::random_transaction_id());
  b.add(stun::attr::padding, std::string(400, '\0')).add_fingerprint();
  auto r = send(b.bytes());
  ASSERT_EQ(r.replies.size(), 1u);
  EXPECT_LE(r.replies[0].bytes.size(), b.size());
  EXPECT_GE(r.replies[0].bytes.size(), b.size() - 8);
}

TEST_F(Handler, PerAddressFloodIsDroppedSilently) {
  cfg.per_address = {1, 10};
  h = std::make_unique<StunHandler>(cfg, Shared{store, relay, m, clock});
  int replies = 0, limited = 0;
  for (int i = 0; i < 100; ++i) {
    auto r = send(binding());
    replies += static_cast<int>(r.replies.size());
    limited += r.outcome == Outcome::rate_limited ? 1 : 0;
  }
  EXPECT_EQ(replies, 10);
  EXPECT_EQ(limited, 90);
}

TEST_F(Handler, PerAddressLimitIsSharedByThreadHandlers) {
  // One handler per I/O thread, as in StunServer, with the limiters shared: an address whose
  // datagrams land on both threads still gets one burst in total.
  cfg.per_address = {1, 10};
  RateLimiter per_address(cfg.per_address, cfg.max_rate_keys, clock), per_device(cfg.per_device, cfg.max_rate_keys, clock);
  StunHandler h1(cfg, Shared{store, relay, m, clock, &per_address, &per_device});
  StunHandler h2(cfg, Shared{store, relay, m, clock, &per_address, &per_device});
  std::string req = binding();
  std::atomic<int> replies{0};
  auto run = [&](StunHandler& h) {
    for (int i = 0; i < 200; ++i)
      replies += static_cast<int>(h.process(Inbound{req, ep("203.0.113.5:40000"), 0, Transport::udp}).replies.size());
  };
  std::thread t1(run, std::ref(h1)), t2(run, std::ref(h2));
  t1.join();
  t2.join();
  EXPECT_EQ(replies.load(), 10);
}

TEST_F(Handler, RegisterIssuesVerifiableTicket) {
  std::string keep;
  auto msg = parse_reply(send(reg("phone-a", {nat::Mapping::endpoint_independent,
                                              nat::Filtering::address_and_port_dependent, false})), keep);
  ASSERT_EQ(msg.cls(), stun::Class::success);
  auto t = msg.find(stun::attr::rdv_nat_ticket);
  ASSERT_TRUE(t);
  auto v = nat::verify_ticket(token::KeyRing(key), t->value, clock);
  ASSERT_EQ(v.status, nat::TicketStatus::ok);
  EXPECT_EQ(v.ticket.device_id, "phone-a");
  EXPECT_EQ(v.ticket.reflexive, "203.0.113.5:40000");
  EXPECT_EQ(nat::reach_of(v.ticket.cls), nat::Reach::punchable);
  EXPECT_TRUE(store.get("phone-a", clock.unix_seconds() * 1000));
}

TEST_F(Handler, RegisterNeedsAValidToken) {
  stun::Builder b(stun::method::rdv_register, stun::Class::request, stun::random_transaction_id());
  b.add(stun::attr::rdv_token, token::mint("other-key-000000", "phone-a", clock.unix_seconds() + 60))
      .add(stun::attr::rdv_info_hash, std::string(20, 'h')).add_fingerprint();
  std::string keep;
  auto msg = parse_reply(send(b.bytes()), keep);
  EXPECT_EQ(stun::decode_error_code(msg.find(stun::attr::error_code)->value)->code, 401);
  EXPECT_EQ(store.size(), 0u);
}

TEST_F(Handler, ConnectTellsBothSides) {
  nat::NatClass prc{nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent, false};
  send(reg("phone-a", prc, "10.0.0.2:6881"), "203.0.113.5:40000");
  send(reg("phone-b", prc, "10.1.0.2:6881"), "198.51.100.9:50000");
  std::string keep;
  auto msg = parse_reply(send(connect("phone-a", "phone-b"), "203.0.113.5:40000"), keep);
  ASSERT_EQ(msg.cls(), stun::Class::success);
  auto d = msg.find(stun::attr::rdv_decision)->value;
  EXPECT_EQ(static_cast<nat::Decision>(d[0]), nat::Decision::punch_simultaneous);
  EXPECT_EQ(static_cast<Action>(d[1]), Action::punch);
  auto pr = stun::decode_xor_address(msg.find(stun::attr::rdv_peer_reflexive)->value, msg.transaction_id);
  EXPECT_EQ(net::format(pr->address, pr->port), "198.51.100.9:50000");
  auto pl = stun::decode_xor_address(msg.find(stun::attr::rdv_peer_lan)->value, msg.transaction_id);
  EXPECT_EQ(net::format(pl->address, pl->port), "10.1.0.2:6881");
  EXPECT_TRUE(msg.find(stun::attr::rdv_start_time));
  EXPECT_FALSE(msg.find(stun::attr::rdv_turn_username));

  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].to.text(), "198.51.100.9:50000");
  auto ind = stun::parse(notices[0].bytes);
  ASSERT_TRUE(ind.ok());
  EXPECT_EQ(ind.message.method(), stun::method::rdv_punch);
  EXPECT_EQ(ind.message.cls(), stun::Class::indication);
  EXPECT_EQ(ind.message.find(stun::attr::rdv_device_id)->value, "phone-a");
  auto ar = stun::decode_xor_address(ind.message.find(stun::attr::rdv_peer_reflexive)->value,
                                     ind.message.transaction_id);
  EXPECT_EQ(net::format(ar->address, ar->port), "203.0.113.5:40000");
  EXPECT_EQ(stun::decode_u64(ind.message.find(stun::attr::rdv_start_time)->value),
            stun::decode_u64(msg.find(stun::attr::rdv_start_time)->value));
}

TEST_F(Handler, RelayOnlyForSymmetricPairsAndWithinBudget) {
  nat::NatClass sym{nat::Mapping::address_and_port_dependent, nat::Filtering::address_and_port_dependent, false};
  for (int i = 0; i < 4; ++i) send(reg("sym-" + std::to_string(i), sym), ("203.0.113." + std::to_string(10 + i) + ":1").c_str());
  std::string keep;
  auto msg = parse_reply(send(connect("sym-0", "sym-1"), "203.0.113.10:1"), keep);
  ASSERT_EQ(msg.cls(), stun::Class::success);
  EXPECT_EQ(static_cast<nat::Decision>(msg.find(stun::attr::rdv_decision)->value[0]), nat::Decision::relay);
  auto user = msg.find(stun::attr::rdv_turn_username);
  ASSERT_TRUE(user);
  EXPECT_EQ(std::string(user->value), std::to_string(clock.unix_seconds() + cfg.turn_ttl_s) + ":sym-0");
  EXPECT_EQ(parse_reply(send(connect("sym-2", "sym-3"), "203.0.113.12:1"), keep).cls(), stun::Class::success);
  // Capacity 2 (1000 B/s over 500 B/s per session): the third pair is refused, renewals are not.
  msg = parse_reply(send(connect("sym-0", "sym-2"), "203.0.113.10:1"), keep);
  EXPECT_EQ(stun::decode_error_code(msg.find(stun::attr::error_code)->value)->code, 486);
  EXPECT_EQ(parse_reply(send(connect("sym-1", "sym-0"), "203.0.113.11:1"), keep).cls(), stun::Class::success);
}

TEST_F(Handler, ConnectErrors) {
  std::string keep;
  auto code = [&](const Result& r) {
    auto msg = parse_reply(r, keep);
    return stun::decode_error_code(msg.find(stun::attr::error_code)->value)->code;
  };
  EXPECT_EQ(code(send(connect("phone-a", "phone-b"))), 403);  // not registered
  send(reg("phone-a", {}));
  EXPECT_EQ(code(send(connect("phone-a", "phone-b"))), 404);
  EXPECT_EQ(code(send(connect("phone-a", "phone-a"))), 404);
}

TEST(MultiReplica, ConnectOnOneReplicaReachesPeerRegisteredOnAnother) {
  ManualClock clock{1'800'000'000};
  metrics::Registry registry;
  Metrics m{registry};
  MemoryRegistrationStore store{100};
  RelayBudget relay{{1000, 500, 10, 60'000}};
  std::string key(32, 'k');
  auto make_cfg = [&](const char* replica, const char* ip) {
    HandlerConfig c;
    auto hp = net::parse_address(ip);
    c.local = {Endpoint{*hp, 3478}, Endpoint{*hp, 3479}, {}, {}};
    c.device_keys = token::KeyRing(key);
    c.ticket_key = key;
    c.replica = replica;
    c.per_address = {1000, 1000};
    c.per_device = {100, 100};
    return c;
  };
  HandlerConfig c1 = make_cfg("r1", "192.0.2.1"), c2 = make_cfg("r2", "192.0.2.9");
  StunHandler h1(c1, Shared{store, relay, m, clock}), h2(c2, Shared{store, relay, m, clock});
  std::vector<Notice> on_r1, on_r2;
  store.subscribe("r1", [&](const Notice& n) { on_r1.push_back(n); });
  store.subscribe("r2", [&](const Notice& n) { on_r2.push_back(n); });
  auto request = [&](uint16_t method, const std::string& dev, const char* peer) {
    stun::Builder b(method, stun::Class::request, stun::random_transaction_id());
    b.add(stun::attr::rdv_token, token::mint(key, dev, clock.unix_seconds() + 600))
        .add(stun::attr::rdv_info_hash, std::string(20, 'h'));
    if (peer) b.add(stun::attr::rdv_peer_id, peer);
    b.add_fingerprint();
    return b.bytes();
  };
  auto at = [](const char* t) {
    auto hp = net::parse_host_port(t);
    return Endpoint{hp->address, hp->port};
  };
  ASSERT_EQ(h2.process({request(stun::method::rdv_register, "phone-b", nullptr), at("198.51.100.2:7000"), 1}).outcome,
            Outcome::ok);
  ASSERT_EQ(h1.process({request(stun::method::rdv_register, "phone-a", nullptr), at("203.0.113.1:6000"), 0}).outcome,
            Outcome::ok);
  auto r = h1.process({request(stun::method::rdv_connect, "phone-a", "phone-b"), at("203.0.113.1:6000"), 0});
  ASSERT_EQ(r.outcome, Outcome::ok);
  EXPECT_TRUE(on_r1.empty());
  ASSERT_EQ(on_r2.size(), 1u);
  EXPECT_EQ(on_r2[0].socket_index, 1);  // from the socket phone-b registered on
  EXPECT_EQ(on_r2[0].to.text(), "198.51.100.2:7000");
}

// A shared store whose other replicas' registrations sit in `remote`; fetches are queued and
// answered when the test says, as Redis answers on its own thread.
class QueuedSharedStore final : public RegistrationStore {
 public:
  MemoryRegistrationStore local{100}, remote{100};
  std::vector<std::function<void()>> queued;
  bool failing = false;
  std::vector<Notice> published;

  bool put(const Registration& r, int64_t now) override { return local.put(r, now); }
  std::optional<Registration> get(const std::string& d, int64_t now) override { return local.get(d, now); }
  std::optional<Registration> find_by_endpoint(const std::string& ih, const Endpoint& e, int64_t now) override {
    return local.find_by_endpoint(ih, e, now);
  }
  void remove(const std::string& d) override { local.remove(d); }
  size_t expire(int64_t now) override { return local.expire(now); }
  size_t size() const override { return local.size(); }
  void publish(const Notice& n) override { published.push_back(n); }
  void subscribe(const std::string&, std::function<void(const Notice&)>) override {}
  bool shared() const override { return true; }
  void fetch(const std::string& d, int64_t now, Found cb) override {
    queued.push_back([this, d, now, cb] { failing ? cb(std::nullopt, false) : cb(remote.get(d, now), true); });
  }
  void fetch_by_endpoint(const std::string& ih, const Endpoint& e, int64_t now, Found cb) override {
    queued.push_back([this, ih, e, now, cb] {
      failing ? cb(std::nullopt, false) : cb(remote.find_by_endpoint(ih, e, now), true);
    });
  }
  void run() {
    while (!queued.empty()) {
      auto q = std::move(queued);
      queued.clear();
      for (auto& f : q) f();
    }
  }
};

class SharedHandler : public ::testing::Test {
 protected:
  ManualClock clock{1'800'000'000};
  metrics::Registry registry;
  Metrics m{registry};
  QueuedSharedStore store;
  RelayBudget relay{{1000, 500, 10, 60'000}};
  HandlerConfig cfg;
  std::unique_ptr<StunHandler> h;
  std::string key = std::string(32, 'k');

  void SetUp() override {
    cfg.local = {ep("192.0.2.1:3478"), ep("192.0.2.1:3479"), {}, {}};
    cfg.device_keys = token::KeyRing(key);
    cfg.ticket_key = key;
    cfg.replica = "r2";
    cfg.per_address = {1000, 1000};
    cfg.per_device = {100, 100};
    h = std::make_unique<StunHandler>(cfg, Shared{store, relay, m, clock});
  }
  Registration remote_reg(const std::string& dev, const char* at) {
    return Registration{dev, std::string(20, 'h'), ep(at), {}, {}, "r1", 1, clock.unix_seconds() * 1000 + 60'000};
  }
  std::string connect(const std::string& dev, const std::string& peer) {
    stun::Builder b(stun::method::rdv_connect, stun::Class::request, stun::random_transaction_id());
    b.add(stun::attr::rdv_token, token::mint(key, dev, clock.unix_seconds() + 600))
        .add(stun::attr::rdv_info_hash, std::string(20, 'h'))
        .add(stun::attr::rdv_peer_id, peer)
        .add_fingerprint();
    return b.bytes();
  }
  int error_code(const Result& r) {
    auto p = stun::parse(r.replies.at(0).bytes);
    EXPECT_TRUE(p.ok());
    auto e = stun::decode_error_code(p.message.find(stun::attr::error_code)->value);
    return e ? e->code : 0;
  }
};

TEST_F(SharedHandler, LocalMissIsAnsweredOnceTheSharedStoreHas) {
  auto self = remote_reg("phone-b", "198.51.100.2:7000");
  self.replica = "r2";
  ASSERT_TRUE(store.local.put(self, 0));
  ASSERT_TRUE(store.remote.put(remote_reg("phone-a", "203.0.113.1:6000"), 0));
  std::optional<Result> later;
  std::string bytes = connect("phone-b", "phone-a");
  auto r = h->process({bytes, ep("198.51.100.2:7000"), 0}, [&](Result&& res) { later = std::move(res); });
  ASSERT_EQ(r.outcome, Outcome::pending);
  EXPECT_TRUE(r.replies.empty());
  bytes.assign(bytes.size(), 'x');  // the receive buffer is reused before the answer
  EXPECT_FALSE(later);
  store.run();
  ASSERT_TRUE(later);
  ASSERT_EQ(later->outcome, Outcome::ok);
  EXPECT_EQ(later->replies.at(0).to.text(), "198.51.100.2:7000");
  ASSERT_EQ(store.published.size(), 1u);
  EXPECT_EQ(store.published[0].replica, "r1");  // the peer's home replica
  EXPECT_EQ(store.published[0].socket_index, 1);
  EXPECT_EQ(store.published[0].to.text(), "203.0.113.1:6000");
}

TEST_F(SharedHandler, RequesterRegisteredElsewhereIsLookedUpToo) {
  ASSERT_TRUE(store.remote.put(remote_reg("phone-a", "203.0.113.1:6000"), 0));
  ASSERT_TRUE(store.remote.put(remote_reg("phone-b", "198.51.100.2:7000"), 0));
  std::optional<Result> later;
  auto r = h->process({connect("phone-b", "phone-a"), ep("198.51.100.2:7000"), 0},
                      [&](Result&& res) { later = std::move(res); });
  ASSERT_EQ(r.outcome, Outcome::pending);
  store.run();
  ASSERT_TRUE(later);
  EXPECT_EQ(later->outcome, Outcome::ok);
}

TEST_F(SharedHandler, UnknownPeerIs404AndAnUnreachableStore500) {
  ASSERT_TRUE(store.local.put(remote_reg("phone-b", "198.51.100.2:7000"), 0));
  std::optional<Result> later;
  auto done = [&](Result&& res) { later = std::move(res); };
  ASSERT_EQ(h->process({connect("phone-b", "phone-z"), ep("198.51.100.2:7000"), 0}, done).outcome, Outcome::pending);
  store.run();
  ASSERT_TRUE(later);
  EXPECT_EQ(error_code(*later), stun::error::not_found);
  later.reset();
  store.failing = true;
  ASSERT_EQ(h->process({connect("phone-b", "phone-z"), ep("198.51.100.2:7000"), 0}, done).outcome, Outcome::pending);
  store.run();
  ASSERT_TRUE(later);
  EXPECT_EQ(error_code(*later), stun::error::server_error);
  EXPECT_TRUE(store.published.empty());
  // Without a completion the handler never waits: what this replica holds is the answer.
  auto sync = h->process({connect("phone-b", "phone-z"), ep("198.51.100.2:7000"), 0});
  EXPECT_EQ(sync.outcome, Outcome::error);
  EXPECT_TRUE(store.queued.empty());
}

}  // namespace
}  // namespace otaswarm::rendezvous

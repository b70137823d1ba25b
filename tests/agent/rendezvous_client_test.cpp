// The sans-I/O rendezvous client driven against the real rendezvous StunHandler on a fake
// clock: register, refresh, ticket, connect → punch orders on both sides, and the fault paths
// (silent rendezvous, garbage, refusals) retried with backoff.
#include "agent/rendezvous_client.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/proto/token.h"
#include "rendezvous/stun_handler.h"

namespace otaswarm::agent {
namespace {

using namespace std::chrono_literals;
using rendezvous::Endpoint;

net::HostPort hp(const char* t) { return *net::parse_host_port(t); }
std::string fmt(const net::HostPort& h) { return net::format(h.address, h.port); }

const nat::NatClass kPortRestricted{nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent,
                                    false};

class RdvClient : public ::testing::Test {
 protected:
  ManualClock clock{1'800'000'000};
  metrics::Registry registry;
  rendezvous::Metrics m{registry};
  rendezvous::MemoryRegistrationStore store{100};
  rendezvous::RelayBudget relay{{1000, 500, 10, 60'000}};
  rendezvous::HandlerConfig cfg;
  std::unique_ptr<rendezvous::StunHandler> h;
  std::string key = std::string(32, 'k');
  std::string ih = std::string(20, 'h');
  std::vector<rendezvous::Notice> notices;
  RdvClock::time_point now = RdvClock::time_point{} + 1000s;
  net::HostPort server = hp("192.0.2.1:3478");
  bool silent = false;

  void SetUp() override {
    auto ep = [](const char* t) {
      auto x = net::parse_host_port(t);
      return Endpoint{x->address, x->port};
    };
    cfg.local = {ep("192.0.2.1:3478"), ep("192.0.2.1:3479"), ep("192.0.2.2:3478"), ep("192.0.2.2:3479")};
    cfg.has_alt_ip = true;
    cfg.device_keys = token::KeyRing(key);
    cfg.ticket_key = key;
    cfg.per_address = {1000, 1000};
    cfg.per_device = {100, 100};
    h = std::make_unique<rendezvous::StunHandler>(cfg, rendezvous::Shared{store, relay, m, clock});
    store.subscribe("local", [this](const rendezvous::Notice& n) { notices.push_back(n); });
  }
  RendezvousOptions options(const std::string& dev) {
    RendezvousOptions o;
    o.server = server;
    o.token = token::mint(key, dev, clock.unix_seconds() + 3600);
    o.info_hash = ih;
    o.lan = hp("10.0.0.2:6881");
    o.probe = false;
    return o;
  }
  // Moves every datagram the client wants to send through the handler (public endpoint `pub`)
  // and delivers the replies; returns how many datagrams were sent.
  int pump(RendezvousClient& c, const char* pub) {
    int sent = 0;
    while (auto d = c.poll(now)) {
      ++sent;
      EXPECT_EQ(fmt(d->to), fmt(server));
      if (silent) continue;
      auto x = net::parse_host_port(pub);
      auto r = h->process(rendezvous::Inbound{d->bytes, Endpoint{x->address, x->port}, 0});
      for (const auto& rep : r.replies) c.on_datagram(ProbeSocket::primary, server, rep.bytes, now);
    }
    return sent;
  }
  void advance(RdvClock::duration d) { now += d; }
};

TEST_F(RdvClient, RegistersCarriesTicketAndRefreshes) {
  RendezvousClient c(options("phone-a"), hp("10.0.0.2:6881"));
  c.start(now);
  EXPECT_EQ(pump(c, "203.0.113.5:40000"), 1);
  ASSERT_TRUE(c.registered());
  EXPECT_EQ(fmt(*c.reflexive()), "203.0.113.5:40000");
  auto t = nat::verify_ticket(token::KeyRing(key), c.nat_ticket(), clock);
  ASSERT_EQ(t.status, nat::TicketStatus::ok);
  EXPECT_EQ(t.ticket.reflexive, "203.0.113.5:40000");
  EXPECT_EQ(c.stats().registrations, 1u);
  // Nothing more until the refresh is due, which is within 25 s.
  EXPECT_EQ(pump(c, "203.0.113.5:40000"), 0);
  EXPECT_LE(c.wakeup() - now, 25s);
  advance(c.wakeup() - now);
  EXPECT_EQ(pump(c, "203.0.113.5:40000"), 1);
  EXPECT_EQ(c.stats().registrations, 2u);
}

TEST_F(RdvClient, ConnectGivesBothSidesAnOrderWithTheSameStart) {
  RendezvousClient a(options("phone-a"), hp("10.0.0.2:6881")), b(options("phone-b"), hp("10.0.0.3:6881"));
  a.start(now);
  b.start(now);
  pump(a, "203.0.113.5:40000");
  pump(b, "198.51.100.9:50000");
  a.connect(hp("198.51.100.9:50000"));
  EXPECT_LE(a.wakeup(), now);
  EXPECT_EQ(pump(a, "203.0.113.5:40000"), 1);
  auto oa = a.next_order();
  ASSERT_TRUE(oa);
  EXPECT_EQ(oa->device_id, "phone-b");
  EXPECT_EQ(fmt(oa->reflexive), "198.51.100.9:50000");
  EXPECT_EQ(oa->action, rdv::Action::punch);
  EXPECT_FALSE(oa->from_indication);
  EXPECT_EQ(oa->start - now, 400ms);
  ASSERT_EQ(notices.size(), 1u);
  b.on_datagram(ProbeSocket::primary, server, notices[0].bytes, now);
  auto ob = b.next_order();
  ASSERT_TRUE(ob);
  EXPECT_EQ(ob->device_id, "phone-a");
  EXPECT_EQ(fmt(ob->reflexive), "203.0.113.5:40000");
  EXPECT_TRUE(ob->from_indication);
  EXPECT_EQ(ob->start, oa->start);
  EXPECT_EQ(b.stats().punches, 1u);
  EXPECT_FALSE(a.next_order());
}

TEST_F(RdvClient, SilentRendezvousIsRetriedWithBackoffThenRecovers) {
  silent = true;
  RendezvousClient c(options("phone-a"), hp("10.0.0.2:6881"));
  c.start(now);
  std::vector<RdvClock::duration> gaps;
  for (int i = 0; i < 5; ++i) {
    pump(c, "203.0.113.5:40000");
    while (c.stats().timeouts == static_cast<uint64_t>(i)) {
      advance(c.wakeup() - now);
      pump(c, "203.0.113.5:40000");
    }
    auto before = now;
    advance(c.wakeup() - now);
    gaps.push_back(now - before);
  }
  EXPECT_FALSE(c.registered());
  EXPECT_EQ(c.stats().timeouts, 5u);
  EXPECT_FALSE(c.last_error().empty());
  for (size_t i = 1; i < gaps.size(); ++i) EXPECT_GE(gaps[i], gaps[i - 1]);  // backoff grows
  EXPECT_EQ(gaps[1], 2 * gaps[0]);
  silent = false;
  advance(kRdvBackoffMax);
  pump(c, "203.0.113.5:40000");
  EXPECT_TRUE(c.registered());
  EXPECT_TRUE(c.last_error().empty());
}

TEST_F(RdvClient, GarbageAndRefusalsAreCountedNotFatal) {
  RendezvousOptions o = options("phone-a");
  o.token = "forged";
  RendezvousClient bad(o, hp("10.0.0.2:6881"));
  bad.start(now);
  pump(bad, "203.0.113.5:40000");
  EXPECT_FALSE(bad.registered());
  EXPECT_EQ(bad.stats().refusals, 1u);

  RendezvousClient c(options("phone-a"), hp("10.0.0.2:6881"));
  c.start(now);
  auto d = c.poll(now);
  ASSERT_TRUE(d);
  auto req = stun::parse(d->bytes);
  ASSERT_TRUE(req.ok());
  // A success for our transaction without the attributes a registration needs.
  stun::Builder junk(stun::method::rdv_register, stun::Class::success, req.message.transaction_id);
  junk.add_fingerprint();
  c.on_datagram(ProbeSocket::primary, server, junk.bytes(), now);
  c.on_datagram(ProbeSocket::primary, server, std::string("\x00\x01\x00\x00\x21\x12\xa4\x42garbage", 15), now);
  c.on_datagram(ProbeSocket::primary, server, "", now);
  EXPECT_EQ(c.stats().garbage, 3u);
  EXPECT_FALSE(c.registered());
  // The retry after the backoff registers.
  advance(c.wakeup() - now);
  pump(c, "203.0.113.5:40000");
  EXPECT_TRUE(c.registered());
  // A punch indication for another release is refused.
  rdv::PeerInfo p;
  p.device_id = "x";
  p.info_hash = std::string(20, 'z');
  p.reflexive = hp("192.0.2.77:1");
  c.on_datagram(ProbeSocket::primary, server, rdv::build_peer_info(stun::method::rdv_punch, stun::random_transaction_id(), p), now);
  EXPECT_FALSE(c.next_order());
  EXPECT_EQ(c.stats().garbage, 4u);
}

TEST_F(RdvClient, ProbeAgainstASilentServerStillEndsInRegistering) {
  silent = true;
  RendezvousOptions o = options("phone-a");
  o.probe = true;
  o.probe_timeout = 300ms;
  RendezvousClient c(o, hp("10.0.0.2:6881"));
  c.start(now);
  EXPECT_TRUE(c.probing());
  for (int i = 0; i < 50 && c.probing(); ++i) {
    pump(c, "203.0.113.5:40000");
    advance(std::max<RdvClock::duration>(c.wakeup() - now, 1ms));
  }
  EXPECT_FALSE(c.probing());
  EXPECT_EQ(c.nat_class().mapping, nat::Mapping::unknown);
  silent = false;
  for (int i = 0; i < 10 && !c.registered(); ++i) {
    advance(c.wakeup() - now);
    pump(c, "203.0.113.5:40000");
  }
  EXPECT_TRUE(c.registered());
}

}  // namespace
}  // namespace otaswarm::agent

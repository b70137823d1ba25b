// The device half of the rendezvous codec (common/proto/rdv) against the real StunHandler:
// requests built by the client half, replies and indications read by it.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/proto/rdv.h"
#include "common/proto/token.h"
#include "rendezvous/stun_handler.h"

namespace otaswarm::rendezvous {
namespace {

Endpoint ep(const char* text) {
  auto hp = net::parse_host_port(text);
  return Endpoint{hp->address, hp->port};
}
std::string fmt(const net::HostPort& h) { return net::format(h.address, h.port); }

class RdvRoundTrip : public ::testing::Test {
 protected:
  ManualClock clock{1'800'000'000};
  metrics::Registry registry;
  Metrics m{registry};
  MemoryRegistrationStore store{100};
  RelayBudget relay{{1000, 500, 10, 60'000}};
  HandlerConfig cfg;
  std::unique_ptr<StunHandler> h;
  std::string key = std::string(32, 'k');
  std::string ih = std::string(20, 'h');
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
  std::string tok(const std::string& dev) { return token::mint(key, dev, clock.unix_seconds() + 600); }

  rdv::Read<rdv::Registered> do_register(const std::string& dev, const char* from, nat::NatClass c) {
    auto tid = stun::random_transaction_id();
    rdv::RegisterRequest req{tok(dev), ih, *net::parse_host_port("10.0.0.2:6881"), c};
    auto r = h->process(Inbound{rdv::build_register(req, tid), ep(from), 0, Transport::udp});
    EXPECT_EQ(r.replies.size(), 1u);
    reply_ = r.replies.at(0).bytes;
    auto p = stun::parse(reply_);
    EXPECT_TRUE(p.ok());
    return rdv::read_registered(p.message, tid);
  }
  std::string reply_;
};

const nat::NatClass kPortRestricted{nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent,
                                    false};

TEST_F(RdvRoundTrip, RegisterConnectAndPunchThroughTheRealHandler) {
  auto a = do_register("phone-a", "203.0.113.5:40000", kPortRestricted);
  ASSERT_TRUE(a.ok()) << rdv::to_string(a.error);
  EXPECT_EQ(fmt(a.value.reflexive), "203.0.113.5:40000");
  EXPECT_EQ(a.value.lifetime_s, 120u);
  auto ticket = nat::verify_ticket(token::KeyRing(key), a.value.nat_ticket, clock);
  ASSERT_EQ(ticket.status, nat::TicketStatus::ok);
  EXPECT_EQ(ticket.ticket.device_id, "phone-a");
  ASSERT_TRUE(do_register("phone-b", "198.51.100.9:50000", kPortRestricted).ok());

  auto tid = stun::random_transaction_id();
  rdv::ConnectRequest req{tok("phone-a"), ih, "", *net::parse_host_port("198.51.100.9:50000"), std::nullopt};
  auto r = h->process(Inbound{rdv::build_connect(req, tid), ep("203.0.113.5:40000"), 0, Transport::udp});
  ASSERT_EQ(r.outcome, Outcome::ok);
  std::string keep = r.replies.at(0).bytes;
  auto parsed = stun::parse(keep);
  ASSERT_TRUE(parsed.ok());
  auto c = rdv::read_connected(parsed.message, tid);
  ASSERT_TRUE(c.ok()) << rdv::to_string(c.error);
  EXPECT_EQ(c.value.device_id, "phone-b");
  EXPECT_EQ(fmt(c.value.reflexive), "198.51.100.9:50000");
  EXPECT_EQ(fmt(*c.value.lan), "10.0.0.2:6881");
  EXPECT_EQ(fmt(*c.value.mapped), "203.0.113.5:40000");
  EXPECT_EQ(c.value.decision, nat::decide(kPortRestricted, kPortRestricted));
  EXPECT_EQ(c.value.action, rdv::Action::punch);
  EXPECT_EQ(c.value.start_delay_ms, 400u);
  EXPECT_EQ(c.value.start_unix_ms, clock.unix_seconds() * 1000 + 400);

  // The peer's indication, as phone-b reads it.
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_EQ(notices[0].to, ep("198.51.100.9:50000"));
  auto pp = stun::parse(notices[0].bytes);
  ASSERT_TRUE(pp.ok());
  auto punch = rdv::read_punch(pp.message);
  ASSERT_TRUE(punch.ok()) << rdv::to_string(punch.error);
  EXPECT_EQ(punch.value.device_id, "phone-a");
  EXPECT_EQ(punch.value.info_hash, ih);
  EXPECT_EQ(fmt(punch.value.reflexive), "203.0.113.5:40000");
  EXPECT_EQ(punch.value.action, rdv::Action::punch);
  EXPECT_EQ(punch.value.start_unix_ms, c.value.start_unix_ms);
}

TEST_F(RdvRoundTrip, RefusalsReadAsErrorResponses) {
  auto tid = stun::random_transaction_id();
  rdv::RegisterRequest bad{"not-a-token", ih, std::nullopt, std::nullopt};
  auto r = h->process(Inbound{rdv::build_register(bad, tid), ep("203.0.113.5:40000"), 0, Transport::udp});
  std::string keep = r.replies.at(0).bytes;
  auto p = stun::parse(keep);
  ASSERT_TRUE(p.ok());
  auto reg = rdv::read_registered(p.message, tid);
  EXPECT_EQ(reg.error, rdv::ReadError::error_response);
  EXPECT_EQ(reg.refusal.code, stun::error::unauthorized);

  ASSERT_TRUE(do_register("phone-a", "203.0.113.5:40000", kPortRestricted).ok());
  auto tid2 = stun::random_transaction_id();
  rdv::ConnectRequest req{tok("phone-a"), ih, "nobody", std::nullopt, std::nullopt};
  auto c = h->process(Inbound{rdv::build_connect(req, tid2), ep("203.0.113.5:40000"), 0, Transport::udp});
  keep = c.replies.at(0).bytes;
  auto pc = stun::parse(keep);
  ASSERT_TRUE(pc.ok());
  auto read = rdv::read_connected(pc.message, tid2);
  EXPECT_EQ(read.error, rdv::ReadError::error_response);
  EXPECT_EQ(read.refusal.code, stun::error::not_found);
}

}  // namespace
}  // namespace otaswarm::rendezvous

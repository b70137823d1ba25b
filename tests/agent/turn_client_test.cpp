// The sans-I/O TURN client against a scripted server on a fake clock: the 401 challenge and
// the authenticated retry (MESSAGE-INTEGRITY with the long-term key), the allocation,
// permissions, Send/Data indications, refusals (486) and silence ending in failed().
#include "agent/turn_client.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace otaswarm::agent {
namespace {

using namespace std::chrono_literals;

net::HostPort hp(const char* t) { return *net::parse_host_port(t); }

struct Scripted {
  TurnClock::time_point now = TurnClock::time_point{} + 100s;
  TurnClient c{TurnOptions{hp("192.0.2.3:3478"), "1700000600:phone-1", "secret"}};

  stun::Message sent(std::string& keep) {
    auto d = c.poll(now);
    EXPECT_TRUE(d);
    keep = d.value_or("");
    auto p = stun::parse(keep);
    EXPECT_TRUE(p.ok());
    return p.message;
  }
  std::string challenge(const stun::Message& m, int code = 401) {
    stun::Builder b(m.method(), stun::Class::error, m.transaction_id);
    b.add_error(code, "Unauthorized").add(stun::attr::realm, "lab.otaswarm").add(stun::attr::nonce, "n0nce");
    return b.add_fingerprint().bytes();
  }
};

TEST(TurnClient, ChallengeThenAuthenticatedAllocateThenPermissionAndData) {
  Scripted s;
  s.c.start(s.now);
  std::string k1, k2, k3;
  auto first = s.sent(k1);
  EXPECT_EQ(first.method(), stun::method::allocate);
  EXPECT_FALSE(first.find(stun::attr::message_integrity));
  EXPECT_FALSE(s.c.on_datagram(s.challenge(first), s.now));
  auto second = s.sent(k2);
  ASSERT_TRUE(second.find(stun::attr::message_integrity));
  std::string key(crypto::as_view(crypto::md5("1700000600:phone-1:lab.otaswarm:secret")));
  EXPECT_TRUE(stun::check_message_integrity(second, key));
  EXPECT_EQ(second.find(stun::attr::username)->value, "1700000600:phone-1");

  stun::Builder ok(stun::method::allocate, stun::Class::success, second.transaction_id);
  ok.add_xor_address(stun::attr::xor_relayed_address, hp("192.0.2.3:49152").address, 49152)
      .add_u32(stun::attr::lifetime, 600)
      .add_fingerprint();
  s.c.on_datagram(ok.bytes(), s.now);
  ASSERT_TRUE(s.c.relayed());
  EXPECT_EQ(net::format(s.c.relayed()->address, s.c.relayed()->port), "192.0.2.3:49152");

  s.c.permit(hp("198.51.100.9:1").address);
  auto perm = s.sent(k3);
  EXPECT_EQ(perm.method(), stun::method::create_permission);
  auto peer = stun::decode_xor_address(perm.find(stun::attr::xor_peer_address)->value, perm.transaction_id);
  EXPECT_EQ(peer->address.to_string(), "198.51.100.9");
  EXPECT_TRUE(stun::check_message_integrity(perm, key));

  // Send indication out, Data indication in.
  auto send = s.c.send_indication(hp("198.51.100.9:40000"), "uTP");
  auto ps = stun::parse(send);
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(ps.message.method(), stun::method::send);
  EXPECT_EQ(ps.message.find(stun::attr::data)->value, "uTP");
  stun::Builder data(stun::method::data, stun::Class::indication, stun::random_transaction_id());
  data.add_xor_address(stun::attr::xor_peer_address, hp("198.51.100.9:40000").address, 40000)
      .add(stun::attr::data, "SYN");
  auto got = s.c.on_datagram(data.bytes(), s.now);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->payload, "SYN");
  EXPECT_EQ(got->peer.port, 40000);
  EXPECT_FALSE(s.c.failed());
  // The allocation is refreshed before it expires.
  EXPECT_LE(s.c.wakeup() - s.now, 600s);
}

TEST(TurnClient, QuotaRefusalAndSilenceFailWithoutThrowing) {
  Scripted s;
  s.c.start(s.now);
  std::string k;
  auto m = s.sent(k);
  stun::Builder q(m.method(), stun::Class::error, m.transaction_id);
  q.add_error(486, "Allocation Quota Reached").add_fingerprint();
  s.c.on_datagram(q.bytes(), s.now);
  EXPECT_TRUE(s.c.failed());
  EXPECT_NE(s.c.error().find("486"), std::string::npos);
  EXPECT_EQ(s.c.wakeup(), TurnClock::time_point::max());  // nothing more to do: no busy loop

  Scripted silent;
  silent.c.start(silent.now);
  int sends = 0;
  for (int i = 0; i < 100 && !silent.c.failed(); ++i) {
    if (silent.c.poll(silent.now)) ++sends;
    silent.now += 100ms;
  }
  EXPECT_TRUE(silent.c.failed());
  EXPECT_GE(sends, 3);  // retransmitted before giving up
  // Garbage is ignored.
  EXPECT_FALSE(silent.c.on_datagram("garbage", silent.now));
}

}  // namespace
}  // namespace otaswarm::agent

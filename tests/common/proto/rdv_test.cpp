#include "common/proto/rdv.h"

#include <gtest/gtest.h>

namespace otaswarm::rdv {
namespace {

net::HostPort hp(const char* text) { return *net::parse_host_port(text); }
std::string fmt(const net::HostPort& h) { return net::format(h.address, h.port); }

TEST(RdvCodec, NatClassBytesRoundTripAndRejectOutOfRange) {
  nat::NatClass c{nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent, false};
  auto back = parse_nat_class(nat_class_bytes(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->mapping, c.mapping);
  EXPECT_EQ(back->filtering, c.filtering);
  EXPECT_FALSE(parse_nat_class(std::string{4, 0, 0, 0}));
  EXPECT_FALSE(parse_nat_class(std::string{0, 0, 2, 0}));
  EXPECT_FALSE(parse_nat_class("abc"));
}

TEST(RdvCodec, PunchIndicationRoundTrip) {
  PeerInfo p;
  p.device_id = "phone-2";
  p.info_hash = std::string(20, 'h');
  p.decision = nat::Decision::punch_b_initiates;
  p.action = Action::punch;
  p.reflexive = hp("198.51.100.7:40001");
  p.lan = hp("10.0.0.7:6881");
  p.nat_class = {nat::Mapping::endpoint_independent, nat::Filtering::address_and_port_dependent, false};
  p.start_unix_ms = 1'800'000'000'400;
  p.start_delay_ms = 400;
  p.relayed = hp("192.0.2.50:49152");
  std::string bytes = build_peer_info(stun::method::rdv_punch, stun::random_transaction_id(), p);
  auto parsed = stun::parse(bytes);
  ASSERT_TRUE(parsed.ok());
  auto r = read_punch(parsed.message);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.value.device_id, "phone-2");
  EXPECT_EQ(r.value.info_hash, p.info_hash);
  EXPECT_EQ(r.value.decision, nat::Decision::punch_b_initiates);
  EXPECT_EQ(r.value.action, Action::punch);
  EXPECT_EQ(fmt(r.value.reflexive), "198.51.100.7:40001");
  EXPECT_EQ(fmt(*r.value.lan), "10.0.0.7:6881");
  EXPECT_EQ(fmt(*r.value.relayed), "192.0.2.50:49152");
  EXPECT_EQ(r.value.start_unix_ms, p.start_unix_ms);
  EXPECT_EQ(r.value.start_delay_ms, 400u);
  EXPECT_FALSE(r.value.mapped);
  // A punch reader does not take a connect reply, and vice versa.
  EXPECT_EQ(read_connected(parsed.message, parsed.message.transaction_id).error, ReadError::wrong_message);
}

TEST(RdvCodec, ReadersRefuseMissingAndBadAttributes) {
  auto tid = stun::random_transaction_id();
  stun::Builder b(stun::method::rdv_punch, stun::Class::indication, tid);
  b.add(stun::attr::rdv_device_id, "x").add_fingerprint();
  auto parsed = stun::parse(b.bytes());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(read_punch(parsed.message).error, ReadError::missing_attribute);

  PeerInfo p;
  p.device_id = "d";
  p.reflexive = hp("192.0.2.1:1");
  std::string ok = build_peer_info(stun::method::rdv_punch, tid, p);
  // Decision byte out of range (the value starts after header, device id, decision header).
  std::string bad = ok;
  size_t dec = stun::kHeaderSize + stun::kAttrHeaderSize + 4 + stun::kAttrHeaderSize;
  bad[dec] = 9;
  auto pb = stun::parse(bad);  // the FINGERPRINT no longer matches
  EXPECT_FALSE(pb.ok());
  stun::Builder b2(stun::method::rdv_punch, stun::Class::indication, tid);
  b2.add(stun::attr::rdv_device_id, "d").add(stun::attr::rdv_decision, std::string{9, 0, 0, 0})
      .add_xor_address(stun::attr::rdv_peer_reflexive, p.reflexive.address, p.reflexive.port)
      .add(stun::attr::rdv_nat_class, std::string(4, '\0')).add_u64(stun::attr::rdv_start_time, 1)
      .add_u32(stun::attr::rdv_start_delay, 1);
  auto p2 = stun::parse(b2.bytes());
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(read_punch(p2.message).error, ReadError::bad_attribute);
}

TEST(RdvCodec, ErrorResponseCarriesTheCode) {
  auto tid = stun::random_transaction_id();
  stun::Builder b(stun::method::rdv_register, stun::Class::error, tid);
  b.add_error(401, "Unauthorized").add_fingerprint();
  auto parsed = stun::parse(b.bytes());
  ASSERT_TRUE(parsed.ok());
  auto r = read_registered(parsed.message, tid);
  EXPECT_EQ(r.error, ReadError::error_response);
  EXPECT_EQ(r.refusal.code, 401);
  EXPECT_EQ(read_registered(parsed.message, stun::random_transaction_id()).error, ReadError::wrong_message);
}

}  // namespace
}  // namespace otaswarm::rdv

#include "common/proto/nat.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace otaswarm::nat {
namespace {

constexpr Mapping EIM = Mapping::endpoint_independent, ADM = Mapping::address_dependent,
                  APDM = Mapping::address_and_port_dependent, UM = Mapping::unknown;
constexpr Filtering EIF = Filtering::endpoint_independent, ADF = Filtering::address_dependent,
                    APDF = Filtering::address_and_port_dependent, UF = Filtering::unknown;

NatClass C(Mapping m, Filtering f, bool pub = false) { return NatClass{m, f, pub}; }

TEST(NatReach, Classes) {
  EXPECT_EQ(reach_of(C(UM, UF, true)), Reach::connectable);
  EXPECT_EQ(reach_of(C(EIM, EIF)), Reach::connectable);
  EXPECT_EQ(reach_of(C(EIM, ADF)), Reach::punchable);
  EXPECT_EQ(reach_of(C(EIM, APDF)), Reach::punchable);
  EXPECT_EQ(reach_of(C(ADM, EIF)), Reach::hard);
  EXPECT_EQ(reach_of(C(APDM, APDF)), Reach::hard);
  EXPECT_EQ(reach_of(C(UM, UF)), Reach::unknown);
}

TEST(NatStrings, RoundTrip) {
  for (auto m : {UM, EIM, ADM, APDM}) EXPECT_EQ(parse_mapping(to_string(m)), m);
  for (auto f : {UF, EIF, ADF, APDF}) EXPECT_EQ(parse_filtering(to_string(f)), f);
  EXPECT_FALSE(parse_mapping("symmetric"));
  EXPECT_STREQ(to_string(Reach::punchable), "punchable");
  EXPECT_STREQ(to_string(Decision::punch_b_initiates), "punch_b_initiates");
}

TEST(NatMatrix, DirectWhenEitherSideConnectable) {
  EXPECT_EQ(decide(C(UM, UF, true), C(APDM, APDF)), Decision::direct);
  EXPECT_EQ(decide(C(APDM, APDF), C(EIM, EIF)), Decision::direct);
}

TEST(NatMatrix, PunchBetweenIndependentMappings) {
  EXPECT_EQ(decide(C(EIM, APDF), C(EIM, APDF)), Decision::punch_simultaneous);
  EXPECT_EQ(decide(C(EIM, ADF), C(EIM, APDF)), Decision::punch_simultaneous);
  EXPECT_EQ(decide(C(UM, UF), C(EIM, APDF)), Decision::punch_simultaneous);
}

TEST(NatMatrix, SymmetricSideInitiatesTowardsAddressFilter) {
  EXPECT_EQ(decide(C(APDM, APDF), C(EIM, ADF)), Decision::punch_a_initiates);
  EXPECT_EQ(decide(C(EIM, ADF), C(ADM, APDF)), Decision::punch_b_initiates);
}

TEST(NatMatrix, RelayOnlyWhereNoPunchWorks) {
  EXPECT_EQ(decide(C(APDM, APDF), C(APDM, APDF)), Decision::relay);
  EXPECT_EQ(decide(C(ADM, ADF), C(APDM, EIF)), Decision::relay);
  EXPECT_EQ(decide(C(APDM, APDF), C(EIM, APDF)), Decision::relay);
  EXPECT_EQ(decide(C(EIM, APDF), C(APDM, ADF)), Decision::relay);
}

TEST(NatMatrix, Symmetric) {
  const Mapping ms[] = {UM, EIM, ADM, APDM};
  const Filtering fs[] = {UF, EIF, ADF, APDF};
  for (auto m1 : ms)
    for (auto f1 : fs)
      for (auto m2 : ms)
        for (auto f2 : fs) {
          auto ab = decide(C(m1, f1), C(m2, f2)), ba = decide(C(m2, f2), C(m1, f1));
          if (ab == Decision::punch_a_initiates) EXPECT_EQ(ba, Decision::punch_b_initiates);
          else if (ab == Decision::punch_b_initiates) EXPECT_EQ(ba, Decision::punch_a_initiates);
          else EXPECT_EQ(ab, ba);
        }
}

class NatTicket : public ::testing::Test {
 protected:
  ManualClock clock{1'800'000'000};
  std::string key = std::string(32, 'k');
  token::KeyRing ring{key};
  Ticket sample() {
    return Ticket{"phone-0123456789", C(EIM, APDF), "203.0.113.7:51413", clock.unix_seconds() + 600};
  }
};

TEST_F(NatTicket, RoundTripV4) {
  auto text = mint_ticket(key, sample());
  ASSERT_FALSE(text.empty());
  EXPECT_LE(text.size(), kMaxTicketLength);
  for (char c : text) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') << c;
  auto r = verify_ticket(ring, text, clock);
  ASSERT_EQ(r.status, TicketStatus::ok);
  EXPECT_EQ(r.ticket.device_id, "phone-0123456789");
  EXPECT_EQ(r.ticket.cls, C(EIM, APDF));
  EXPECT_EQ(r.ticket.reflexive, "203.0.113.7:51413");
  EXPECT_EQ(r.ticket.expiry, clock.unix_seconds() + 600);
}

TEST_F(NatTicket, RoundTripV6AndPublicAndEmptyEndpoint) {
  auto t = sample();
  t.cls = C(EIM, EIF, true);
  t.reflexive = "[2001:db8::1]:6881";
  auto r = verify_ticket(ring, mint_ticket(key, t), clock);
  ASSERT_EQ(r.status, TicketStatus::ok);
  EXPECT_EQ(r.ticket.reflexive, "[2001:db8::1]:6881");
  EXPECT_TRUE(r.ticket.cls.public_address);
  t.reflexive.clear();
  r = verify_ticket(ring, mint_ticket(key, t), clock);
  ASSERT_EQ(r.status, TicketStatus::ok);
  EXPECT_EQ(r.ticket.reflexive, "");
}

TEST_F(NatTicket, Expired) {
  auto text = mint_ticket(key, sample());
  clock.advance_seconds(601);
  EXPECT_EQ(verify_ticket(ring, text, clock).status, TicketStatus::expired);
}

TEST_F(NatTicket, ForgedAndTampered) {
  auto text = mint_ticket(key, sample());
  EXPECT_EQ(verify_ticket(token::KeyRing{std::string(32, 'x')}, text, clock).status, TicketStatus::bad_signature);
  auto tampered = text;
  auto dot = tampered.find('.', 3);
  tampered[dot + 1] = tampered[dot + 1] == '3' ? '1' : '3';  // change the mapping class
  EXPECT_EQ(verify_ticket(ring, tampered, clock).status, TicketStatus::bad_signature);
}

TEST_F(NatTicket, DeviceTokenIsNotATicket) {
  auto tok = token::mint(key, "phone-0123456789", clock.unix_seconds() + 600);
  EXPECT_EQ(verify_ticket(ring, tok, clock).status, TicketStatus::malformed);
}

TEST_F(NatTicket, RotationAcceptsPreviousKey) {
  auto text = mint_ticket(key, sample());
  token::KeyRing rotated{std::string(32, 'n'), key};
  EXPECT_EQ(verify_ticket(rotated, text, clock).status, TicketStatus::ok);
}

TEST_F(NatTicket, Malformed) {
  for (std::string_view bad : {"", "n1", "n1.....", "n2.cA.130.ywBxB8jV.1800000600.AAAAAAAAAAAAAAAAAAAAAA",
                               "n1.cA.930.ywBxB8jV.1800000600.AAAAAAAAAAAAAAAAAAAAAA",
                               "n1.cA.130.yw.1800000600.AAAAAAAAAAAAAAAAAAAAAA",
                               "n1.cA.130.ywBxB8jV.01800000600.AAAAAAAAAAAAAAAAAAAAAA",
                               "n1.cA.130.ywBxB8jV.1800000600.AAAA", "n1.cA.130.ywBxB8jV.1800000600.AAAA.x"})
    EXPECT_EQ(verify_ticket(ring, bad, clock).status, TicketStatus::malformed) << bad;
  EXPECT_EQ(verify_ticket(ring, std::string(kMaxTicketLength + 1, 'a'), clock).status, TicketStatus::malformed);
}

TEST_F(NatTicket, MintRefusesWhatCannotBeEncoded) {
  auto t = sample();
  EXPECT_EQ(mint_ticket("", t), "");
  t.reflexive = "not-an-endpoint";
  EXPECT_EQ(mint_ticket(key, t), "");
  t = sample();
  t.device_id = std::string(120, 'd');  // base64url growth pushes it past kMaxTicketLength
  EXPECT_EQ(mint_ticket(key, t), "");
  t.device_id = "";
  EXPECT_EQ(mint_ticket(key, t), "");
}

}  // namespace
}  // namespace otaswarm::nat

#include "tracker/connection_id.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/clock.h"
#include "common/net.h"
#include "common/proto/bep15.h"

namespace otaswarm {
namespace {

constexpr int64_t kSlot = ConnectionIds::kSlotSeconds;
// A slot boundary, so the tests know exactly when a slot ends.
constexpr int64_t kStart = 1'700'000'000 / kSlot * kSlot;

net::Address addr(const char* s) { return *net::parse_address(s); }

uint64_t openssl_siphash(const uint8_t key[16], const uint8_t* msg, size_t n) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  size_t outsize = 8;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outsize), OSSL_PARAM_construct_end()};
  uint8_t out[8] = {};
  size_t outl = 0;
  EXPECT_EQ(EVP_MAC_init(ctx, key, 16, params), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, msg, n), 1);
  EXPECT_EQ(EVP_MAC_final(ctx, out, &outl, sizeof out), 1);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | out[i];
  return v;
}

TEST(ConnectionIds, SipHashMatchesTheReferenceAndOpenSsl) {
  uint8_t key[16], msg[64];
  for (uint8_t i = 0; i < 16; ++i) key[i] = i;
  for (uint8_t i = 0; i < 64; ++i) msg[i] = i;
  EXPECT_EQ(siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);  // SipHash paper, appendix A
  // Same value as the OpenSSL SIPHASH the IDs were minted with before, so replicas of mixed
  // versions agree, for every message length around the 8-byte words.
  for (size_t n = 0; n <= 40; ++n) {
    key[n % 16] ^= static_cast<uint8_t>(n * 37);
    EXPECT_EQ(siphash24(key, msg, n), openssl_siphash(key, msg, n)) << n;
  }
}

TEST(ConnectionIds, ValidInCurrentAndPreviousSlotOnly) {
  ManualClock clock(kStart);
  ConnectionIds ids("secret", "", clock);
  auto client = addr("203.0.113.5");
  uint64_t id = ids.issue(client);
  EXPECT_TRUE(ids.valid(id, client));
  clock.advance_seconds(kSlot - 1);
  EXPECT_TRUE(ids.valid(id, client));
  clock.advance_seconds(1);  // next slot: the previous one still counts
  EXPECT_TRUE(ids.valid(id, client));
  clock.advance_seconds(kSlot - 1);
  EXPECT_TRUE(ids.valid(id, client));
  clock.advance_seconds(1);  // two slots later
  EXPECT_FALSE(ids.valid(id, client));
}

TEST(ConnectionIds, LivesAtLeastOneMinuteWhereverIssued) {
  ManualClock clock(kStart + kSlot - 1);  // issued in the last second of a slot
  ConnectionIds ids("secret", "", clock);
  auto client = addr("203.0.113.5");
  uint64_t id = ids.issue(client);
  clock.advance_seconds(60);
  EXPECT_TRUE(ids.valid(id, client));
}

TEST(ConnectionIds, BoundToTheClientAddress) {
  ManualClock clock(kStart);
  ConnectionIds ids("secret", "", clock);
  uint64_t id = ids.issue(addr("203.0.113.5"));
  EXPECT_FALSE(ids.valid(id, addr("203.0.113.6")));
  EXPECT_FALSE(ids.valid(id, addr("2001:db8::5")));
  EXPECT_TRUE(ids.valid(id, addr("::ffff:203.0.113.5")));  // dual-stack socket view of the same client
  uint64_t id6 = ids.issue(addr("2001:db8::5"));
  EXPECT_TRUE(ids.valid(id6, addr("2001:db8::5")));
  EXPECT_FALSE(ids.valid(id6, addr("2001:db8::6")));
  EXPECT_NE(id, id6);
}

TEST(ConnectionIds, ReplicasWithTheSameKeyAgree) {
  ManualClock clock(kStart);
  ConnectionIds a("shared", "", clock), b("shared", "", clock), other("different", "", clock);
  auto client = addr("198.51.100.1");
  EXPECT_EQ(a.issue(client), b.issue(client));
  EXPECT_TRUE(b.valid(a.issue(client), client));
  EXPECT_FALSE(other.valid(a.issue(client), client));
}

TEST(ConnectionIds, KeyRotation) {
  ManualClock clock(kStart);
  ConnectionIds before("old", "", clock);
  ConnectionIds during("new", "old", clock);
  ConnectionIds after("new", "", clock);
  auto client = addr("198.51.100.1");
  uint64_t old_id = before.issue(client);
  EXPECT_TRUE(during.valid(old_id, client));
  EXPECT_FALSE(after.valid(old_id, client));
  uint64_t new_id = during.issue(client);
  EXPECT_TRUE(after.valid(new_id, client));
  EXPECT_FALSE(before.valid(new_id, client));
  clock.advance_seconds(2 * kSlot);
  EXPECT_FALSE(during.valid(old_id, client));
}

TEST(ConnectionIds, GuessesFail) {
  ManualClock clock(kStart);
  ConnectionIds ids("secret", "", clock);
  auto client = addr("203.0.113.5");
  uint64_t id = ids.issue(client);
  for (uint64_t guess : {uint64_t{0}, udp::kProtocolId, id ^ 1, id + 1, ~id}) EXPECT_FALSE(ids.valid(guess, client));
}

}  // namespace
}  // namespace otaswarm

#include "rendezvous/turn.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace otaswarm::rendezvous {
namespace {

TEST(TurnCredentials, CoturnRestScheme) {
  auto c = make_turn_credentials("s3cret", "phone-1", 1'700'000'000, 600);
  EXPECT_EQ(c.username, "1700000600:phone-1");
  EXPECT_EQ(c.expiry, 1'700'000'600);
  EXPECT_EQ(c.password, crypto::base64(crypto::as_view(crypto::hmac_sha1("s3cret", "1700000600:phone-1"))));
}

}  // namespace
}  // namespace otaswarm::rendezvous

#include "common/proto/token.h"

#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"
#include "common/crypto.h"

namespace otaswarm::token {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kHour = 3600;
const std::string kKey = "0123456789abcdef0123456789abcdef";
const std::string kOtherKey = "fedcba9876543210fedcba9876543210";

std::vector<std::string> split(const std::string& t) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= t.size(); ++i)
    if (i == t.size() || t[i] == '.') {
      out.push_back(t.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

std::string join(const std::vector<std::string>& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) out += (i ? "." : "") + p[i];
  return out;
}

class TokenTest : public ::testing::Test {
 protected:
  ManualClock clock{kNow};
  KeyRing keys{kKey};
};

TEST_F(TokenTest, MintThenVerify) {
  std::string t = mint(kKey, "phone-42", kNow + kHour);
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.rfind("v1.", 0), 0u);
  auto v = verify(keys, t, clock);
  EXPECT_EQ(v.status, Status::ok);
  EXPECT_EQ(v.device_id, "phone-42");
  EXPECT_EQ(v.expiry, kNow + kHour);
}

TEST_F(TokenTest, FormatMatchesDocumentedLayout) {
  std::string t = mint(kKey, "dev", 1800000000);
  auto mac = crypto::hmac_sha256(kKey, "otaswarm-device-token-v1\ndev\n1800000000");
  std::string mac16(reinterpret_cast<const char*>(mac.data()), 16);
  EXPECT_EQ(t, "v1." + crypto::base64url("dev") + ".1800000000." + crypto::base64url(mac16));
}

TEST_F(TokenTest, ExpiresWithTheClock) {
  std::string t = mint(kKey, "phone", kNow + 10);
  EXPECT_EQ(verify(keys, t, clock).status, Status::ok);
  clock.advance_seconds(10);
  EXPECT_EQ(verify(keys, t, clock).status, Status::ok);  // valid through its expiry second
  clock.advance_seconds(1);
  auto v = verify(keys, t, clock);
  EXPECT_EQ(v.status, Status::expired);
  EXPECT_EQ(v.device_id, "phone");
}

TEST_F(TokenTest, WrongKeyIsBadSignature) {
  std::string t = mint(kOtherKey, "phone", kNow + kHour);
  EXPECT_EQ(verify(keys, t, clock).status, Status::bad_signature);
}

TEST_F(TokenTest, ForgedFieldsAreBadSignature) {
  auto p = split(mint(kKey, "phone", kNow + kHour));
  ASSERT_EQ(p.size(), 4u);
  auto other_device = p;
  other_device[1] = crypto::base64url("phone2");
  EXPECT_EQ(verify(keys, join(other_device), clock).status, Status::bad_signature);
  auto later = p;
  later[2] = std::to_string(kNow + 100 * kHour);
  EXPECT_EQ(verify(keys, join(later), clock).status, Status::bad_signature);
  auto flipped = p;
  flipped[3][0] = flipped[3][0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(verify(keys, join(flipped), clock).status, Status::bad_signature);
}

TEST_F(TokenTest, ExpiredForgeryIsBadSignatureNotExpired) {
  std::string t = mint(kOtherKey, "phone", kNow - 1);
  EXPECT_EQ(verify(keys, t, clock).status, Status::bad_signature);
}

TEST_F(TokenTest, KeyRotationAcceptsPreviousKeyOnlyWhileConfigured) {
  std::string old_token = mint(kOtherKey, "phone", kNow + kHour);
  std::string new_token = mint(kKey, "phone", kNow + kHour);
  KeyRing rotating(kKey, kOtherKey);
  EXPECT_EQ(verify(rotating, old_token, clock).status, Status::ok);
  EXPECT_EQ(verify(rotating, new_token, clock).status, Status::ok);
  KeyRing rotated(kKey);
  EXPECT_EQ(verify(rotated, old_token, clock).status, Status::bad_signature);
  EXPECT_EQ(verify(rotated, new_token, clock).status, Status::ok);
}

TEST_F(TokenTest, EmptyKeyRingVerifiesNothing) {
  EXPECT_EQ(verify(KeyRing{}, mint(kKey, "phone", kNow + kHour), clock).status, Status::bad_signature);
}

TEST_F(TokenTest, MalformedTokens) {
  std::string good = mint(kKey, "phone", kNow + kHour);
  auto p = split(good);
  std::vector<std::string> bad = {
      "",
      "v1",
      "v1.a.b",
      good + ".x",
      "x1." + p[1] + "." + p[2] + "." + p[3],
      "v1." + p[1] + ".0" + p[2] + "." + p[3],          // leading zero expiry
      "v1." + p[1] + ".-5." + p[3],                      // negative expiry
      "v1." + p[1] + ".12x." + p[3],                     // non-digit expiry
      "v1." + p[1] + ".." + p[3],                        // empty expiry
      "v1." + p[1] + ".99999999999999999999." + p[3],    // overflow
      "v1.." + p[2] + "." + p[3],                        // empty device
      "v1." + p[1] + "=" + "." + p[2] + "." + p[3],      // padding
      "v1." + p[1] + "." + p[2] + "." + p[3] + "AA",     // MAC of the wrong length
      "v1." + p[1] + "." + p[2] + ".",                   // no MAC
      "v1." + crypto::base64url(std::string("a\nb")) + "." + p[2] + "." + p[3],  // control char in id
      std::string(kMaxTokenLength + 1, 'a'),
  };
  for (const auto& t : bad) EXPECT_EQ(verify(keys, t, clock).status, Status::malformed) << t;
}

TEST_F(TokenTest, OtherVersionsAreUnsupported) {
  auto p = split(mint(kKey, "phone", kNow + kHour));
  p[0] = "v2";
  EXPECT_EQ(verify(keys, join(p), clock).status, Status::unsupported_version);
}

TEST_F(TokenTest, MintRefusesBadInput) {
  EXPECT_EQ(mint(kKey, "", kNow), "");
  EXPECT_EQ(mint(kKey, std::string(kMaxDeviceIdLength + 1, 'x'), kNow), "");
  EXPECT_EQ(mint(kKey, "a\x01", kNow), "");
  EXPECT_EQ(mint(kKey, "a\x7f", kNow), "");
  EXPECT_EQ(mint(kKey, "phone", 0), "");
  EXPECT_EQ(mint("", "phone", kNow), "");
  EXPECT_NE(mint(kKey, std::string(kMaxDeviceIdLength, 'x'), kNow), "");
}

TEST_F(TokenTest, LongestDeviceIdFitsTheTokenLimit) {
  std::string t = mint(kKey, std::string(kMaxDeviceIdLength, '\xff'), INT64_MAX);
  ASSERT_FALSE(t.empty());
  EXPECT_LE(t.size(), kMaxTokenLength);
  EXPECT_EQ(verify(keys, t, clock).status, Status::ok);
}

TEST_F(TokenTest, StatusNames) {
  EXPECT_STREQ(to_string(Status::expired), "device token expired");
  EXPECT_STREQ(to_string(Status::ok), "ok");
}

}  // namespace
}  // namespace otaswarm::token

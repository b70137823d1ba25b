// iCodes: operator-signed ISP tokens — minted and verified, and refused when forged, expired,
// altered or malformed; the previous key still verifies during a rotation.
#include "common/proto/icode.h"

#include <gtest/gtest.h>

namespace otaswarm::icode {
namespace {

TEST(Icode, MintVerifyRoundTrip) {
  ManualClock clock;
  token::KeyRing keys("k1");
  auto text = mint("k1", {"AS64501", "eu-west", clock.unix_seconds() + 60});
  ASSERT_EQ(text.rfind("i1.", 0), 0u) << text;
  auto c = icode::verify(keys, text, clock);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->isp, "AS64501");
  EXPECT_EQ(c->region, "eu-west");
  EXPECT_EQ(c->expiry, clock.unix_seconds() + 60);
  auto no_region = icode::verify(keys, mint("k1", {"AS64501", "", clock.unix_seconds() + 60}), clock);
  ASSERT_TRUE(no_region);
  EXPECT_EQ(no_region->region, "");
}

TEST(Icode, ExpiredForgedAndRotated) {
  ManualClock clock;
  auto text = mint("k1", {"AS64501", "eu", clock.unix_seconds() + 60});
  EXPECT_FALSE(icode::verify(token::KeyRing("k2"), text, clock));           // another operator's key
  EXPECT_TRUE(icode::verify(token::KeyRing("k2", "k1"), text, clock));      // rotation: previous key accepted
  clock.advance_seconds(61);
  EXPECT_FALSE(icode::verify(token::KeyRing("k1"), text, clock));           // expired
}

TEST(Icode, AlteredFieldsBreakTheMac) {
  ManualClock clock;
  token::KeyRing keys("k1");
  auto good = mint("k1", {"ispa", "eu", clock.unix_seconds() + 60});
  auto other = mint("k1", {"ispb", "eu", clock.unix_seconds() + 60});
  auto part = [](const std::string& s, int i) {
    size_t b = 0;
    for (int k = 0; k < i; ++k) b = s.find('.', b) + 1;
    return s.substr(b, s.find('.', b) - b);
  };
  // ispb's ISP field with ispa's MAC: a client trying to attract another ISP's traffic.
  std::string spliced = "i1." + part(other, 1) + "." + part(good, 2) + "." + part(good, 3) + "." + part(good, 4);
  EXPECT_FALSE(icode::verify(keys, spliced, clock));
  std::string later = "i1." + part(good, 1) + "." + part(good, 2) + "." + std::to_string(clock.unix_seconds() + 9999) +
                      "." + part(good, 4);
  EXPECT_FALSE(icode::verify(keys, later, clock));
}

TEST(Icode, MalformedInputIsRefused) {
  ManualClock clock;
  token::KeyRing keys("k1");
  auto good = mint("k1", {"ispa", "eu", clock.unix_seconds() + 60});
  for (std::string bad : {std::string(), std::string("i1"), std::string("i2") + good.substr(2), good + ".x",
                          good.substr(0, good.size() - 2), std::string(300, 'a'), std::string("i1....")}) {
    EXPECT_FALSE(icode::verify(keys, bad, clock)) << bad;
  }
  EXPECT_FALSE(icode::verify(keys, "i1.aXNw.ZXU.0060." + good.substr(good.rfind('.') + 1), clock));  // non-canonical expiry
}

TEST(Icode, MintRefusesWhatVerifyWouldRefuse) {
  EXPECT_EQ(mint("", {"ispa", "", 100}), "");
  EXPECT_EQ(mint("k", {"", "", 100}), "");
  EXPECT_EQ(mint("k", {"isp a", "", 100}), "");  // not printable
  EXPECT_EQ(mint("k", {std::string(65, 'a'), "", 100}), "");
  EXPECT_EQ(mint("k", {"ispa", "", 0}), "");
}

}  // namespace
}  // namespace otaswarm::icode

#include "common/percent.h"

#include <gtest/gtest.h>

#include <string>

namespace otaswarm::percent {
namespace {

TEST(Percent, EncodesAllButUnreserved) {
  EXPECT_EQ(encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(encode("a b+c/%"), "a%20b%2Bc%2F%25");
  EXPECT_EQ(encode(std::string("\x00\xff", 2)), "%00%FF");
  std::string out = "x=";
  encode(out, "?");
  EXPECT_EQ(out, "x=%3F");
}

TEST(Percent, DecodesEitherCase) {
  EXPECT_EQ(decode("a%2fb%2Fc"), "a/b/c");
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("%41"), "A");
}

TEST(Percent, PlusIsASpaceOnlyInAQuery) {
  EXPECT_EQ(decode("a+b%20c%2b", Plus::space), "a b c+");
  EXPECT_EQ(decode("a+b%20c%2b"), "a+b c+");
}

TEST(Percent, RefusesABrokenEscape) {
  for (const char* bad : {"%2", "%x1", "abc%", "%", "%%41", "%4g"}) {
    EXPECT_FALSE(decode(bad)) << bad;
    EXPECT_FALSE(decode(bad, Plus::space)) << bad;
  }
}

TEST(Percent, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (Plus plus : {Plus::literal, Plus::space}) {
    auto back = decode(encode(all), plus);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all);
  }
  // Decoding an encoded string that already had escapes in it gives those escapes back.
  EXPECT_EQ(decode(encode("%41+")), "%41+");
}

}  // namespace
}  // namespace otaswarm::percent

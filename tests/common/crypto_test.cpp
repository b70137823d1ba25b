#include "common/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace otaswarm::crypto {
namespace {

TEST(Crypto, Sha1KnownVectors) {
  EXPECT_EQ(hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Crypto, Sha256KnownVector) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacRfcVectors) {
  // RFC 2202 test case 2 and RFC 4231 test case 2.
  EXPECT_EQ(hex(hmac_sha1("Jefe", "what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, CachedHmacMatchesOneShot) {
  // RFC 4231 test case 2, and test case 6 (a key longer than the block, hashed first).
  EXPECT_EQ(hex(hmac_sha256_cached("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(hmac_sha256_cached(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Keys of every length around the block size, more keys than the per-thread cache holds
  // (evictions), data across block boundaries, each key used twice (the cached state).
  for (int round = 0; round < 2; ++round) {
    for (size_t klen = 0; klen <= 130; klen += 13) {
      std::string key(klen, '\0');
      for (size_t i = 0; i < klen; ++i) key[i] = static_cast<char>(i * 7 + klen);
      for (size_t dlen : {0, 1, 55, 56, 64, 119, 200}) {
        std::string data(dlen, static_cast<char>(dlen));
        EXPECT_EQ(hmac_sha256_cached(key, data), hmac_sha256(key, data)) << klen << " " << dlen;
      }
    }
  }
}

TEST(Crypto, Sha1StreamMatchesOneShotAndResets) {
  std::string data(100000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  Sha1Stream s;
  for (size_t off = 0; off < data.size(); off += 777) s.update(data.data() + off, std::min<size_t>(777, data.size() - off));
  EXPECT_EQ(s.finish(), sha1(data));
  s.update("abc", 3);
  EXPECT_EQ(s.finish(), sha1("abc"));
}

TEST(Crypto, EqualCt) {
  uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {1, 2, 4};
  EXPECT_TRUE(equal_ct(a, b));
  EXPECT_FALSE(equal_ct(a, c));
  EXPECT_FALSE(equal_ct(std::span<const uint8_t>(a, 2), b));
  EXPECT_TRUE(equal_ct({}, {}));
}

TEST(Crypto, HexRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(unhex(hex(all)), all);
  EXPECT_EQ(hex(std::string_view("\x00\xff", 2)), "00ff");
  EXPECT_EQ(unhex("DEADbeef"), std::string("\xde\xad\xbe\xef"));
  EXPECT_EQ(unhex(""), std::string());
}

TEST(Crypto, UnhexRejectsBadInput) {
  EXPECT_FALSE(unhex("abc"));
  EXPECT_FALSE(unhex("zz"));
  EXPECT_FALSE(unhex("0g"));
  EXPECT_FALSE(unhex(" 0"));
}

TEST(Crypto, Base64Rfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(Crypto, Base64UrlHasNoPaddingAndUrlAlphabet) {
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(base64("\xfb\xff"), "+/8=");
}

TEST(Crypto, Base64UrlRoundTripAllLengths) {
  std::string data;
  for (int n = 0; n < 70; ++n) {
    EXPECT_EQ(unbase64url(base64url(data)), data) << n;
    data.push_back(static_cast<char>(n * 37 + 11));
  }
}

TEST(Crypto, UnBase64UrlRejectsNonCanonicalAndForeignInput) {
  EXPECT_FALSE(unbase64url("Zg=="));   // padding is not part of the URL form
  EXPECT_FALSE(unbase64url("Z"));      // a single leftover character carries no byte
  EXPECT_FALSE(unbase64url("+/8"));    // standard alphabet
  EXPECT_FALSE(unbase64url("Zh"));     // leftover bits not zero: a second spelling of "f"
  std::array<uint8_t, 2> two{};
  EXPECT_EQ(unbase64url("Zm8", two), 2u);  // "fo" fits exactly
  EXPECT_EQ(two[1], 'o');
  EXPECT_FALSE(unbase64url("Zm9v", two));  // "foo" does not fit
  EXPECT_FALSE(unbase64url("Zm9v\n"));
  EXPECT_EQ(unbase64url(""), std::string());
}

TEST(Crypto, RandomBytesFillsAndDiffers) {
  EXPECT_NE(random_u64(), random_u64());
  std::array<uint8_t, 32> a{}, b{};
  random_bytes(a.data(), a.size());
  random_bytes(b.data(), b.size());
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace otaswarm::crypto

#include "common/redis/protocol.h"

#include <gtest/gtest.h>


namespace otaswarm::redis {
namespace {

TEST(Crc16, KnownVector) { EXPECT_EQ(crc16("123456789"), 0x31C3); }

TEST(KeySlot, KnownKeys) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
}

TEST(KeySlot, HashTagRules) {
  EXPECT_EQ(hash_tag("{}.foo"), "{}.foo");       // empty tag: whole key hashed
  EXPECT_EQ(hash_tag("foo{bar}{zap}"), "bar");   // first tag only
  EXPECT_EQ(hash_tag("foo{{bar}}zap"), "{bar");  // from the first { to the first }
  EXPECT_EQ(hash_tag("foo{bar"), "foo{bar");     // unterminated: whole key
  EXPECT_LT(key_slot(""), kSlotCount);
}

TEST(Redirect, Moved) {
  auto r = parse_redirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ask);
  EXPECT_EQ(r->slot, 3999);
  EXPECT_EQ(r->host, "127.0.0.1");
  EXPECT_EQ(r->port, 6381);
}

TEST(Redirect, AskAndIpv6AndUnknownEndpoint) {
  auto a = parse_redirect("ASK 16383 ::1:7000");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->ask);
  EXPECT_EQ(a->slot, 16383);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 7000);
  auto u = parse_redirect("MOVED 1 :7001");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "");
  EXPECT_EQ(u->port, 7001);
}

TEST(Redirect, RejectsOtherErrorsAndGarbage) {
  EXPECT_FALSE(parse_redirect("ERR unknown command"));
  EXPECT_FALSE(parse_redirect("MOVED"));
  EXPECT_FALSE(parse_redirect("MOVED 16384 127.0.0.1:1"));
  EXPECT_FALSE(parse_redirect("MOVED 12 127.0.0.1"));
  EXPECT_FALSE(parse_redirect("MOVED 12 127.0.0.1:0"));
  EXPECT_FALSE(parse_redirect("MOVED x 127.0.0.1:5"));
  EXPECT_FALSE(parse_redirect("ASK 1 host:99999"));
}

TEST(Encode, BinarySafeResp) {
  std::string bin("a\0b\r\n", 5);
  EXPECT_EQ(encode_command({"SET", "k", bin}), std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0b\r\n\r\n", 31));
}

}  // namespace
}  // namespace otaswarm::redis

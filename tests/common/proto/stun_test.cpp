#include "common/proto/stun.h"

#include <gtest/gtest.h>

#include "common/crypto.h"

namespace otaswarm::stun {
namespace {

std::string bytes(std::string_view hex) {
  std::string clean;
  for (char c : hex)
    if (!isspace(static_cast<unsigned char>(c))) clean.push_back(c);
  return *crypto::unhex(clean);
}

// RFC 5769 §2.1–2.3.
const std::string kRequest = bytes(
    "000100582112a442b7e7a701bc34d686fa87dfae"
    "802200105354554e207465737420636c69656e74"
    "002400046e0001ff"
    "80290008932ff9b151263b36"
    "000600096576746a3a683676592020 20"
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
    "80280004e57a3bcf");
const std::string kResponseV4 = bytes(
    "0101003c2112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7"
    "80280004c07d4c96");
const std::string kResponseV6 = bytes(
    "010100482112a442b7e7a701bc34d686fa87dfae"
    "8022000b7465737420766563746f7220"
    "002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9"
    "00080014a382954e4be67bf11784c97c8292c275bfe3ed41"
    "80280004c8fb0b4c");
const std::string kPassword = "VOkJxbRl1RmTxUk/WvJxBt";
const TransactionId kTid = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

TEST(StunRfc5769, ParsesSampleRequest) {
  auto r = parse(kRequest);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  const auto& m = r.message;
  EXPECT_EQ(m.method(), method::binding);
  EXPECT_EQ(m.cls(), Class::request);
  EXPECT_EQ(m.transaction_id, kTid);
  EXPECT_TRUE(m.has_fingerprint);
  ASSERT_TRUE(m.find(attr::software));
  EXPECT_EQ(m.find(attr::software)->value, "STUN test client");
  EXPECT_EQ(m.find(attr::username)->value, "evtj:h6vY");
  EXPECT_EQ(decode_u32(m.find(attr::priority)->value), 0x6e0001ffu);
  EXPECT_TRUE(check_message_integrity(m, kPassword));
  EXPECT_FALSE(check_message_integrity(m, "wrong"));
}

TEST(StunRfc5769, BuildsSampleRequestByteForByte) {
  Builder b(method::binding, Class::request, kTid);
  b.padding_byte(0x20)
      .add(attr::software, "STUN test client")
      .add_u32(attr::priority, 0x6e0001ff)
      .add(attr::ice_controlled, bytes("932ff9b151263b36"))
      .add(attr::username, "evtj:h6vY")
      .add_message_integrity(kPassword)
      .add_fingerprint();
  EXPECT_EQ(crypto::hex(b.bytes()), crypto::hex(kRequest));
}

TEST(StunRfc5769, ResponseV4RoundTrip) {
  auto r = parse(kResponseV4);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  EXPECT_EQ(r.message.cls(), Class::success);
  auto xa = decode_xor_address(r.message.find(attr::xor_mapped_address)->value, r.message.transaction_id);
  ASSERT_TRUE(xa);
  EXPECT_EQ(net::format(xa->address, xa->port), "192.0.2.1:32853");
  EXPECT_TRUE(check_message_integrity(r.message, kPassword));

  Builder b(method::binding, Class::success, kTid);
  b.padding_byte(0x20)
      .add(attr::software, "test vector")
      .add_xor_address(attr::xor_mapped_address, *net::parse_address("192.0.2.1"), 32853)
      .add_message_integrity(kPassword)
      .add_fingerprint();
  EXPECT_EQ(crypto::hex(b.bytes()), crypto::hex(kResponseV4));
}

TEST(StunRfc5769, ResponseV6RoundTrip) {
  auto r = parse(kResponseV6);
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  auto xa = decode_xor_address(r.message.find(attr::xor_mapped_address)->value, r.message.transaction_id);
  ASSERT_TRUE(xa);
  EXPECT_EQ(net::format(xa->address, xa->port), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(check_message_integrity(r.message, kPassword));

  Builder b(method::binding, Class::success, kTid);
  b.padding_byte(0x20)
      .add(attr::software, "test vector")
      .add_xor_address(attr::xor_mapped_address, *net::parse_address("2001:db8:1234:5678:11:2233:4455:6677"), 32853)
      .add_message_integrity(kPassword)
      .add_fingerprint();
  EXPECT_EQ(crypto::hex(b.bytes()), crypto::hex(kResponseV6));
}

TEST(StunCodec, MessageTypeEncoding) {
  EXPECT_EQ(message_type(method::binding, Class::request), 0x0001);
  EXPECT_EQ(message_type(method::binding, Class::success), 0x0101);
  EXPECT_EQ(message_type(method::binding, Class::error), 0x0111);
  EXPECT_EQ(message_type(method::binding, Class::indication), 0x0011);
  for (uint16_t m : {method::binding, method::rdv_register, method::rdv_connect, method::rdv_punch, uint16_t(0xFFF)})
    for (auto c : {Class::request, Class::indication, Class::success, Class::error}) {
      EXPECT_EQ(method_of(message_type(m, c)), m);
      EXPECT_EQ(class_of(message_type(m, c)), c);
    }
}

TEST(StunCodec, BuilderReaderPairForEveryAttributeKind) {
  auto tid = random_transaction_id();
  Builder b(method::rdv_connect, Class::error, tid);
  const uint16_t unknown[] = {0x0031, 0x4FFF};
  b.add_address(attr::other_address, *net::parse_address("127.0.0.2"), 3479)
      .add_xor_address(attr::rdv_peer_reflexive, *net::parse_address("::1"), 7)
      .add_u32(attr::change_request, kChangeIp | kChangePort)
      .add_u64(attr::rdv_start_time, 0x0123456789abcdefULL)
      .add_error(error::unknown_attribute, "Unknown Attribute")
      .add_unknown_attributes(unknown)
      .add(attr::software, "x")
      .add_fingerprint();
  auto r = parse(b.bytes());
  ASSERT_TRUE(r.ok()) << to_string(r.error);
  const auto& m = r.message;
  EXPECT_EQ(m.method(), method::rdv_connect);
  EXPECT_EQ(m.cls(), Class::error);
  auto oa = decode_address(m.find(attr::other_address)->value);
  EXPECT_EQ(net::format(oa->address, oa->port), "127.0.0.2:3479");
  auto pr = decode_xor_address(m.find(attr::rdv_peer_reflexive)->value, tid);
  EXPECT_EQ(net::format(pr->address, pr->port), "[::1]:7");
  EXPECT_EQ(decode_u32(m.find(attr::change_request)->value), kChangeIp | kChangePort);
  EXPECT_EQ(decode_u64(m.find(attr::rdv_start_time)->value), 0x0123456789abcdefULL);
  auto ec = decode_error_code(m.find(attr::error_code)->value);
  ASSERT_TRUE(ec);
  EXPECT_EQ(ec->code, 420);
  EXPECT_EQ(ec->reason, "Unknown Attribute");
  EXPECT_EQ(decode_unknown_attributes(m.find(attr::unknown_attributes)->value), std::vector<uint16_t>(unknown, unknown + 2));
  EXPECT_EQ(framed_size(b.bytes()), b.size());
}

TEST(StunCodec, UnknownComprehensionRequired) {
  Builder b(method::binding, Class::request, random_transaction_id());
  b.add(0x0031, "abcd").add(0xC001, "opt").add(attr::software, "s").add(0x0031, "dup");
  auto r = parse(b.bytes());
  ASSERT_TRUE(r.ok());
  const uint16_t known[] = {attr::change_request};
  EXPECT_EQ(r.message.unknown_required(known), std::vector<uint16_t>{0x0031});
}

TEST(StunCodec, RejectsMalformed) {
  EXPECT_EQ(parse("").error, ParseError::too_short);
  EXPECT_EQ(parse(std::string(19, '\0')).error, ParseError::too_short);
  auto good = kResponseV4;
  auto not_stun = good;
  not_stun[0] = static_cast<char>(0x80);
  EXPECT_EQ(parse(not_stun).error, ParseError::not_stun);
  auto magic = good;
  magic[4] = 0;
  EXPECT_EQ(parse(magic).error, ParseError::bad_magic);
  EXPECT_EQ(parse(good.substr(0, good.size() - 4)).error, ParseError::bad_length);
  auto odd = good;
  odd[3] = 0x3d;
  EXPECT_EQ(parse(odd).error, ParseError::bad_length);
  auto overrun = good;
  overrun[kHeaderSize + 3] = 0x7f;  // SOFTWARE length runs past the end
  EXPECT_EQ(parse(overrun).error, ParseError::bad_attribute);
  EXPECT_EQ(parse(std::string(kMaxMessageSize + 4, '\0')).error, ParseError::too_large);
}

TEST(StunCodec, RejectsBadFingerprint) {
  auto bad = kRequest;
  bad[bad.size() - 1] ^= 1;
  EXPECT_EQ(parse(bad).error, ParseError::bad_fingerprint);
  // Anything after FINGERPRINT is refused too.
  Builder b(method::binding, Class::request, random_transaction_id());
  b.add_fingerprint().add(attr::software, "late");
  EXPECT_EQ(parse(b.bytes()).error, ParseError::bad_fingerprint);
}

TEST(StunCodec, TooManyAttributes) {
  Builder b(method::binding, Class::request, random_transaction_id());
  for (size_t i = 0; i <= kMaxAttributes; ++i) b.add(0xC000, "");
  EXPECT_EQ(parse(b.bytes()).error, ParseError::too_many_attributes);
}

TEST(StunCodec, MalformedValues) {
  TransactionId tid{};
  EXPECT_FALSE(decode_address(""));
  EXPECT_FALSE(decode_address(bytes("0001000a7f0000")));     // short IPv4
  EXPECT_FALSE(decode_address(bytes("0003000a7f000001")));   // bad family
  EXPECT_FALSE(decode_xor_address(bytes("0002000a7f000001"), tid));  // IPv6 family, IPv4 length
  EXPECT_FALSE(decode_u32("abc"));
  EXPECT_FALSE(decode_u64("abcd"));
  EXPECT_FALSE(decode_error_code(bytes("00000963")));  // class 9
  EXPECT_FALSE(decode_error_code("ab"));
}

TEST(StunCodec, Crc32) { EXPECT_EQ(crc32("123456789"), 0xCBF43926u); }

TEST(StunCodec, Crc32EightBytesAtATimeMatchesBytewise) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  for (size_t len = 0; len <= data.size(); ++len) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; ++i) {
      c ^= static_cast<uint8_t>(data[i]);
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    ASSERT_EQ(crc32(std::string_view(data.data(), len)), c ^ 0xFFFFFFFFu) << len;
  }
}

}  // namespace
}  // namespace otaswarm::stun

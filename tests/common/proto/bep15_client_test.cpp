#include "common/proto/bep15_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace otaswarm::loadtest::bep15 {
namespace {

std::vector<uint8_t> be(std::initializer_list<uint64_t> words, std::initializer_list<int> sizes) {
  std::vector<uint8_t> out;
  auto s = sizes.begin();
  for (uint64_t w : words) {
    int n = *s++;
    for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(w >> (i * 8)));
  }
  return out;
}

TEST(Bep15Client, ConnectRequest) {
  std::array<uint8_t, kConnectRequestSize> buf;
  ASSERT_EQ(build_connect(0xdeadbeef, buf), 16u);
  auto expected = be({kProtocolId, 0, 0xdeadbeef}, {8, 4, 4});
  EXPECT_EQ(std::vector<uint8_t>(buf.begin(), buf.end()), expected);
}

TEST(Bep15Client, AnnounceWithoutUrlDataIs98Bytes) {
  AnnounceRequest r;
  r.connection_id = 0x0102030405060708ULL;
  r.transaction_id = 7;
  r.info_hash.fill(0xab);
  r.peer_id.fill('P');
  r.left = 1000;
  r.event = started;
  r.num_want = 50;
  r.port = 6881;
  std::array<uint8_t, kMaxAnnounceRequest> buf;
  ASSERT_EQ(build_announce(r, buf), kAnnounceRequestSize);
  EXPECT_EQ(buf[7], 0x08);
  EXPECT_EQ(buf[11], announce);
  EXPECT_EQ(buf[15], 7);
  EXPECT_EQ(buf[16], 0xab);
  EXPECT_EQ(buf[36], 'P');
  EXPECT_EQ(buf[71], 0xe8);  // left = 1000 = 0x3e8, bytes 64..71
  EXPECT_EQ(buf[83], started);
  EXPECT_EQ(buf[95], 50);
  EXPECT_EQ(buf[96] << 8 | buf[97], 6881);
}

TEST(Bep15Client, UrlDataSplitsInto255ByteOptions) {
  std::string path = "/announce/" + std::string(290, 't');
  AnnounceRequest r;
  r.url_data = path;
  std::array<uint8_t, kMaxAnnounceRequest> buf;
  size_t n = build_announce(r, buf);
  ASSERT_EQ(n, kAnnounceRequestSize + 2 + 255 + 2 + (path.size() - 255) + 1);
  EXPECT_EQ(buf[98], url_data);
  EXPECT_EQ(buf[99], 255);
  size_t second = 98 + 2 + 255;
  EXPECT_EQ(buf[second], url_data);
  EXPECT_EQ(buf[second + 1], path.size() - 255);
  EXPECT_EQ(buf[n - 1], end_of_options);
  std::string rebuilt(reinterpret_cast<const char*>(&buf[100]), 255);
  rebuilt.append(reinterpret_cast<const char*>(&buf[second + 2]), path.size() - 255);
  EXPECT_EQ(rebuilt, path);
}

TEST(Bep15Client, RefusesOversizedUrlData) {
  std::string path(kMaxUrlData + 1, 'x');
  AnnounceRequest r;
  r.url_data = path;
  std::array<uint8_t, kMaxAnnounceRequest> buf;
  EXPECT_EQ(build_announce(r, buf), 0u);
  path.resize(kMaxUrlData);
  r.url_data = path;
  EXPECT_GT(build_announce(r, buf), kAnnounceRequestSize + kMaxUrlData);
}

TEST(Bep15Client, ParsesReplies) {
  Reply r;
  auto c = be({connect, 9, 0x1122334455667788ULL}, {4, 4, 8});
  ASSERT_EQ(parse_reply(c, false, r), ReplyError::ok);
  EXPECT_EQ(r.transaction_id, 9u);
  EXPECT_EQ(r.connection_id, 0x1122334455667788ULL);

  auto a = be({announce, 10, 1800, 3, 4}, {4, 4, 4, 4, 4});
  a.resize(a.size() + 2 * 6);
  ASSERT_EQ(parse_reply(a, false, r), ReplyError::ok);
  EXPECT_EQ(r.interval, 1800u);
  EXPECT_EQ(r.leechers, 3u);
  EXPECT_EQ(r.seeders, 4u);
  EXPECT_EQ(r.peers, 2u);
  EXPECT_EQ(parse_reply(a, true, r), ReplyError::bad_length);  // 12 bytes is not n × 18

  auto e = be({error, 11}, {4, 4});
  std::string msg = "unknown info_hash";
  e.insert(e.end(), msg.begin(), msg.end());
  ASSERT_EQ(parse_reply(e, false, r), ReplyError::ok);
  EXPECT_EQ(r.action, error);
  EXPECT_EQ(r.message, msg);
}

TEST(Bep15Client, RejectsMalformedReplies) {
  Reply r;
  std::vector<uint8_t> tiny{0, 0, 0};
  EXPECT_EQ(parse_reply(tiny, false, r), ReplyError::truncated);
  auto short_connect = be({connect, 1, 5}, {4, 4, 4});
  EXPECT_EQ(parse_reply(short_connect, false, r), ReplyError::truncated);
  auto short_announce = be({announce, 1, 5}, {4, 4, 4});
  EXPECT_EQ(parse_reply(short_announce, false, r), ReplyError::truncated);
  auto odd = be({announce, 1, 1, 1, 1}, {4, 4, 4, 4, 4});
  odd.resize(odd.size() + 5);
  EXPECT_EQ(parse_reply(odd, false, r), ReplyError::bad_length);
  auto unknown = be({77, 1}, {4, 4});
  EXPECT_EQ(parse_reply(unknown, false, r), ReplyError::unknown_action);
}

// Both halves of the origin trailer: the tracker's builder, the agent's reader.
TEST(Bep15Client, OriginTrailerRoundTrip) {
  std::string out;
  udp::build_announce_v4(out, 9, 90, 3, 1, {{{10, 0, 0, 1}, 6881}, {{10, 0, 0, 2}, 6882}});
  udp::OriginTrailer t;
  t.grant = true;
  t.recheck_s = 15;
  t.starvation_delay_s = 4;
  t.rate = 1'500'000;
  t.starvation_floor = 1'200'000;
  udp::append_origin_trailer(out, t);
  ASSERT_EQ(out.size(), 20 + 2 * 6 + udp::kOriginTrailerSize);
  std::span<const uint8_t> d(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  Reply r;
  ASSERT_EQ(parse_reply(d, false, r, true), ReplyError::ok);
  EXPECT_EQ(r.peers, 2u);
  ASSERT_TRUE(r.has_origin);
  EXPECT_EQ(r.origin, t);
  // A reader that did not ask would take it for three more peers: that is why only a client
  // that sent origin=1 ever gets it.
  Reply plain;
  ASSERT_EQ(parse_reply(d, false, plain), ReplyError::ok);
  EXPECT_EQ(plain.peers, 2u + udp::kOriginTrailerSize / 6);
  EXPECT_FALSE(plain.has_origin);
}

TEST(Bep15Client, NoTrailerWhenAskedButAbsent) {
  std::string out;
  udp::build_announce_v4(out, 9, 90, 3, 1, {{{10, 0, 0, 1}, 6881}, {{10, 0, 0, 2}, 6882}, {{10, 0, 0, 3}, 6883}});
  std::span<const uint8_t> d(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  Reply r;
  ASSERT_EQ(parse_reply(d, false, r, true), ReplyError::ok);
  EXPECT_EQ(r.peers, 3u);  // 18 bytes of peers are not mistaken for a trailer: no magic
  EXPECT_FALSE(r.has_origin);
}

}  // namespace
}  // namespace otaswarm::loadtest::bep15

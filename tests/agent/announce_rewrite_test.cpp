// The BEP 15 rewriting of the agent's relay: libtorrent's announce (port 1 behind a proxy)
// leaves with the public port and the NAT ticket, read back by the tracker's own parser;
// announce replies are read and rebuilt with the codec.
#include "agent/announce_rewrite.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

udp::AnnounceRequest libtorrent_announce(std::string url_data) {
  udp::AnnounceRequest a;
  a.connection_id = 0x1122334455667788ULL;
  a.transaction_id = 0xCAFE;
  a.info_hash.fill(7);
  a.peer_id.fill(9);
  a.left = 4096;
  a.event = 2;
  a.key = 42;
  a.num_want = 200;
  a.port = 1;  // what libtorrent says behind a SOCKS5 proxy
  a.url_data = std::move(url_data);
  return a;
}

TEST(AnnounceRewrite, PortAndTicketGoIntoTheAnnounce) {
  std::string d = udp::build_announce_request(libtorrent_announce("/announce/tok?localip=192.168.1.2&lan=abc"));
  auto tid = rewrite_announce(d, 40001, "n1.ticket");
  ASSERT_EQ(tid, 0xCAFEu);
  auto pk = udp::parse(d);
  ASSERT_EQ(pk.error, udp::ParseError::ok);
  EXPECT_EQ(pk.announce.port, 40001);
  EXPECT_EQ(pk.announce.url_data, "/announce/tok?localip=192.168.1.2&lan=abc&nat=n1.ticket");
  EXPECT_EQ(pk.announce.key, 42u);
  EXPECT_EQ(pk.announce.left, 4096u);
  // Once only, and a path without a query gets one.
  ASSERT_TRUE(rewrite_announce(d, 40001, "n1.ticket"));
  EXPECT_EQ(udp::parse(d).announce.url_data, "/announce/tok?localip=192.168.1.2&lan=abc&nat=n1.ticket");
  std::string bare = udp::build_announce_request(libtorrent_announce("/announce/tok"));
  ASSERT_TRUE(rewrite_announce(bare, 5, "t"));
  EXPECT_EQ(udp::parse(bare).announce.url_data, "/announce/tok?nat=t");
}

TEST(AnnounceRewrite, NoTicketYetAndOversizedUrlDataKeepThePortRewrite) {
  std::string d = udp::build_announce_request(libtorrent_announce("/announce/tok"));
  ASSERT_TRUE(rewrite_announce(d, 6881, ""));
  EXPECT_EQ(udp::parse(d).announce.url_data, "/announce/tok");
  EXPECT_EQ(udp::parse(d).announce.port, 6881);
  std::string big = udp::build_announce_request(libtorrent_announce("/a?" + std::string(udp::kMaxUrlData - 10, 'x')));
  ASSERT_TRUE(rewrite_announce(big, 6881, "n1.a-long-ticket"));
  EXPECT_EQ(udp::parse(big).announce.url_data.find("nat="), std::string::npos);
}

TEST(AnnounceRewrite, OtherDatagramsAreLeftAlone) {
  std::string connect = udp::build_connect_request(7);
  std::string copy = connect;
  EXPECT_FALSE(rewrite_announce(connect, 1, "t"));
  EXPECT_EQ(connect, copy);
  std::string junk = "not bep15";
  EXPECT_FALSE(rewrite_announce(junk, 1, "t"));
  EXPECT_EQ(junk, "not bep15");
}

TEST(AnnounceRewrite, RepliesRoundTrip) {
  std::string d;
  udp::build_announce_v4(d, 0xCAFE, 1800, 3, 1, {{{10, 200, 0, 11}, 6881}, {{192, 168, 1, 2}, 6882}});
  auto r = read_announce_reply(d);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->transaction_id, 0xCAFEu);
  ASSERT_EQ(r->peers.size(), 2u);
  EXPECT_EQ(r->peers[0].port, 6881);
  EXPECT_EQ(r->peers[1].ip[0], 192);
  r->peers.erase(r->peers.begin());
  auto again = read_announce_reply(build_announce_reply(*r));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->peers.size(), 1u);
  EXPECT_EQ(again->interval, 1800u);
  EXPECT_FALSE(read_announce_reply(d.substr(0, 25)));  // a partial peer entry
  EXPECT_FALSE(read_announce_reply(udp::build_connect(1, 2)));
}

}  // namespace
}  // namespace otaswarm::agent

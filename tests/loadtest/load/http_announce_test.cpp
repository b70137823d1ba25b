#include "loadtest/load/http_announce.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace otaswarm::loadtest {
namespace {

TEST(HttpAnnounce, TargetCarriesEncodedFields) {
  PopulationConfig c;
  c.phones = 1;
  crypto::Sha1 h{};
  h[0] = 0x01;
  h[1] = 'A';
  h[2] = ' ';
  c.info_hashes.push_back(h);
  c.path_base = "/announce";
  c.torrent_length = 100;
  Population p(c);
  auto a = p.next(0);
  std::string t = http_announce_target(a, 30);
  EXPECT_EQ(t.rfind("/announce?info_hash=%01A%20%00", 0), 0u) << t;
  EXPECT_NE(t.find("&event=started"), std::string::npos);
  EXPECT_NE(t.find("&left=100"), std::string::npos);
  EXPECT_NE(t.find("&numwant=30"), std::string::npos);
  EXPECT_NE(t.find("&compact=1"), std::string::npos);
  EXPECT_NE(t.find("&peer_id=-OS0001-000000000000"), std::string::npos);
  auto b = p.next(0);
  EXPECT_EQ(http_announce_target(b, 30).find("event="), std::string::npos);  // periodic: no event
}

TEST(HttpAnnounce, PhoneQueryAndAnnounceFieldsShareOneQueryString) {
  PopulationConfig c;
  c.phones = 1;
  c.info_hashes.push_back(crypto::Sha1{});
  c.path_base = "/announce";
  c.lan_hints = true;
  Population p(c);
  std::string t = http_announce_target(p.next(0), 30);
  EXPECT_EQ(t.rfind("/announce?localip=192.168.1.10&lan=", 0), 0u) << t;
  EXPECT_NE(t.find("&info_hash=%00"), std::string::npos) << t;
  EXPECT_EQ(std::count(t.begin(), t.end(), '?'), 1) << t;
}

TEST(HttpAnnounce, ClassifiesReplies) {
  auto ok = classify_http_reply("d8:completei1e10:incompletei2e8:intervali1800e5:peers12:abcdefghijkle");
  EXPECT_EQ(ok.kind, HttpReplyKind::ok);
  EXPECT_EQ(ok.peers, 2u);
  auto v6 = classify_http_reply("d8:intervali60e5:peers0:6:peers618:0123456789abcdefghe");
  EXPECT_EQ(v6.kind, HttpReplyKind::ok);
  EXPECT_EQ(v6.peers, 1u);
  auto fail = classify_http_reply("d14:failure reason17:unknown info_hashe");
  EXPECT_EQ(fail.kind, HttpReplyKind::tracker_failure);
  EXPECT_EQ(fail.failure_reason, "unknown info_hash");
  for (const char* bad : {"", "garbage", "d8:intervali60ee", "d5:peers0:e", "d8:intervali60e5:peers5:abcdee",
                          "li1ee", "d8:intervali60e5:peersi3ee"})
    EXPECT_EQ(classify_http_reply(bad).kind, HttpReplyKind::bad_reply) << bad;
}

}  // namespace
}  // namespace otaswarm::loadtest

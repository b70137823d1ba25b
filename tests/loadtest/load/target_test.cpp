#include "loadtest/load/target.h"

#include <gtest/gtest.h>

namespace otaswarm::loadtest {
namespace {

TEST(Target, ParsesUdpWithToken) {
  std::string why;
  auto t = parse_target("udp://127.0.0.1:6969/announce/v1.abc.123.def", why);
  ASSERT_TRUE(t) << why;
  EXPECT_EQ(t->protocol, Protocol::udp);
  EXPECT_EQ(t->server.port, 6969);
  EXPECT_EQ(t->path, "/announce/v1.abc.123.def");
  EXPECT_EQ(t->host_header, "127.0.0.1:6969");
}

TEST(Target, HttpDefaultsToAnnounceAndUdpToNoPath) {
  std::string why;
  auto h = parse_target("http://[::1]:8080", why);
  ASSERT_TRUE(h) << why;
  EXPECT_EQ(h->protocol, Protocol::http);
  EXPECT_EQ(h->path, "/announce");
  EXPECT_EQ(h->host_header, "[::1]:8080");
  auto u = parse_target("udp://127.0.0.1:1/", why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->path, "");
}

TEST(Target, RejectsWhatItCannotUse) {
  std::string why;
  for (const char* bad : {"ftp://127.0.0.1:1", "udp://localhost", "udp://127.0.0.1:0/announce",
                          "http://tracker.example:80/announce", "http://127.0.0.1:80/announce?x=1", "udp://:80",
                          "udp://0.0.0.0:80"}) {
    why.clear();
    EXPECT_FALSE(parse_target(bad, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Target, OnlyLoopbackOrLabAddresses) {
  std::string why;
  EXPECT_TRUE(target_allowed(*net::parse_address("127.0.0.1"), false, why));
  EXPECT_TRUE(target_allowed(*net::parse_address("127.9.8.7"), false, why));
  EXPECT_TRUE(target_allowed(*net::parse_address("::1"), false, why));
  EXPECT_FALSE(target_allowed(*net::parse_address("10.1.2.3"), false, why));
  EXPECT_TRUE(target_allowed(*net::parse_address("10.1.2.3"), true, why));
  EXPECT_FALSE(target_allowed(*net::parse_address("8.8.8.8"), true, why));
  EXPECT_NE(why.find("8.8.8.8"), std::string::npos);
}

}  // namespace
}  // namespace otaswarm::loadtest

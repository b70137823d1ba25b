#include "agent/announce_url.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

TEST(AnnounceUrl, TokenGoesAtTheEndOfThePath) {
  EXPECT_EQ(announce_url("http://t:80/announce", "tok", {}), "http://t:80/announce/tok");
  EXPECT_EQ(announce_url("http://t:80/announce/", "tok", {}), "http://t:80/announce/tok");
  EXPECT_EQ(announce_url("udp://t:6969/announce", "tok", {}), "udp://t:6969/announce/tok");
}

TEST(AnnounceUrl, ExtrasInTheQuery) {
  AnnounceExtras e{"192.168.1.5", "0d3fe0fd"};
  EXPECT_EQ(announce_url("http://t/announce", "tok", e), "http://t/announce/tok?localip=192.168.1.5&lan=0d3fe0fd");
  EXPECT_EQ(announce_url("udp://t:1/announce", "tok", e), "udp://t:1/announce/tok?localip=192.168.1.5&lan=0d3fe0fd");
  EXPECT_EQ(announce_url("http://t/announce", "tok", {"", "h"}), "http://t/announce/tok?lan=h");
  EXPECT_EQ(announce_url("http://t/announce", "tok", {"10.0.0.2", ""}), "http://t/announce/tok?localip=10.0.0.2");
}

TEST(AnnounceUrl, ExistingQueryIsKeptAfterTheToken) {
  EXPECT_EQ(announce_url("http://t/announce?icode=i1.x", "tok", {"", "h"}), "http://t/announce/tok?icode=i1.x&lan=h");
  EXPECT_EQ(announce_url("http://t/announce?icode=i1.x", "tok", {}), "http://t/announce/tok?icode=i1.x");
}

TEST(AnnounceUrl, TokenAndValuesAreEscaped) {
  EXPECT_EQ(announce_url("http://t/announce", "a b/c?d", {"", "x&y=z"}), "http://t/announce/a%20b%2Fc%3Fd?lan=x%26y%3Dz");
  EXPECT_EQ(url_escape("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(url_escape("\xff"), "%FF");
}

}  // namespace
}  // namespace otaswarm::agent

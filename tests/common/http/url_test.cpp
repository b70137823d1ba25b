#include "common/http/url.h"

#include <gtest/gtest.h>

#include <string>

#include "common/config.h"

namespace otaswarm::http {
namespace {

TEST(ParseUrl, SplitsSchemeHostPortTarget) {
  auto u = parse_url("HTTP://127.0.0.1:6969/abc/announce?x=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6969);
  EXPECT_EQ(u->target, "/abc/announce?x=1");

  u = parse_url("udp://[::1]:6969/announce/tok");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 6969);
  EXPECT_EQ(u->target, "/announce/tok");

  u = parse_url("https://s3.example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 0);
  EXPECT_EQ(u->target, "/");

  u = parse_url("http://h?q");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q");
}

TEST(ParseUrl, RejectsMalformed) {
  for (const char* bad : {"", "s3.example/x", "://h/", "http://", "http://:80/", "http://h:/", "http://h:0/",
                          "http://h:65536/", "http://h:12ab/", "http://u@h/", "http://h/a b", "http://[::1/",
                          "http://[::1]x/", "ht tp://h/", "http://h/\x01"})
    EXPECT_FALSE(parse_url(bad)) << bad;
  EXPECT_FALSE(parse_url("http://h/" + std::string(kMaxUrlLength, 'a')));
}

TEST(CheckUrl, EnforcesSchemeAndUdpPort) {
  EXPECT_NO_THROW(check_url("announce", "udp://t:1/announce", {"http", "udp"}));
  EXPECT_THROW(check_url("announce", "udp://t/announce", {"http", "udp"}), config::ConfigError);
  EXPECT_THROW(check_url("webseed", "ftp://t/x", {"http", "https"}), config::ConfigError);
  try {
    check_url("webseed", "nope", {"http"});
    FAIL();
  } catch (const config::ConfigError& e) {
    EXPECT_EQ(e.key(), "webseed");
  }
}

}  // namespace
}  // namespace otaswarm::http

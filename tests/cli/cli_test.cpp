#include <gtest/gtest.h>

#include "common/config.h"
#include "cli/commands.h"
#include "common/http/url.h"

namespace otaswarm::cli {
namespace {

using http::check_url;
using http::kMaxUrlLength;
using http::parse_url;

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

TEST(AutoPieceLength, PowerOfTwoWithinBounds) {
  EXPECT_EQ(auto_piece_length(1), 16 * 1024);
  EXPECT_EQ(auto_piece_length(129'241'752), 64 * 1024);  // the thesis image
  EXPECT_EQ(auto_piece_length(1ll << 30), 512 * 1024);
  EXPECT_EQ(auto_piece_length((1ll << 30) + 1), 1024 * 1024);
  EXPECT_EQ(auto_piece_length(2ll << 30), 1024 * 1024);
  EXPECT_EQ(auto_piece_length(3'000'000'000), 2 * 1024 * 1024);
  EXPECT_EQ(auto_piece_length(1ll << 40), 16 * 1024 * 1024);
  for (int64_t size : {1ll, 100'000ll, 1ll << 30, 3'000'000'000ll, 40'000'000'000ll}) {
    int64_t p = auto_piece_length(size);
    EXPECT_EQ(p & (p - 1), 0) << size;
    if (p < 16 * 1024 * 1024) {
      EXPECT_LE((size + p - 1) / p, 2048) << size;
    }
  }
}

}  // namespace
}  // namespace otaswarm::cli

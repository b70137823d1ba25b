#include "common/net.h"

#include <gtest/gtest.h>

namespace otaswarm::net {
namespace {

Address addr(const char* s) { return *parse_address(s); }

TEST(Net, ParseHostPortForms) {
  auto hp = parse_host_port("1.2.3.4:80");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->address, addr("1.2.3.4"));
  EXPECT_EQ(hp->port, 80);

  hp = parse_host_port("[::1]:6969");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->address, addr("::1"));
  EXPECT_EQ(hp->port, 6969);

  hp = parse_host_port(":0");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->address, addr("0.0.0.0"));
  EXPECT_EQ(hp->port, 0);

  hp = parse_host_port("*:65535");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->port, 65535);

  hp = parse_host_port("localhost:1");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->address, addr("127.0.0.1"));
}

TEST(Net, ParseHostPortRejects) {
  for (const char* s : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:8x", "::1:80", "[::1]",
                        "[::1]80", "[::1:80", "host.example:80", "1.2.3:80", "[1.2.3.4.5]:1", "1.2.3.4: 80"})
    EXPECT_FALSE(parse_host_port(s)) << s;
}

TEST(Net, Format) {
  EXPECT_EQ(format(addr("10.0.0.1"), 6969), "10.0.0.1:6969");
  EXPECT_EQ(format(addr("::1"), 1), "[::1]:1");
  EXPECT_EQ(format(boost::asio::ip::udp::endpoint(addr("2001:db8::2"), 53)), "[2001:db8::2]:53");
  EXPECT_EQ(format(boost::asio::ip::tcp::endpoint(addr("127.0.0.1"), 80)), "127.0.0.1:80");
}

TEST(Net, UnmapOnlyTouchesMappedAddresses) {
  EXPECT_EQ(unmap(addr("::ffff:192.0.2.1")), addr("192.0.2.1"));
  EXPECT_TRUE(unmap(addr("::ffff:192.0.2.1")).is_v4());
  EXPECT_EQ(unmap(addr("2001:db8::1")), addr("2001:db8::1"));
  EXPECT_EQ(unmap(addr("192.0.2.1")), addr("192.0.2.1"));
}

TEST(Net, CidrV4) {
  auto c = parse_cidr("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->prefix, 8u);
  EXPECT_TRUE(c->contains(addr("10.255.0.1")));
  EXPECT_TRUE(c->contains(addr("::ffff:10.0.0.9")));
  EXPECT_FALSE(c->contains(addr("11.0.0.1")));
  EXPECT_FALSE(c->contains(addr("::a00:1")));

  auto host = parse_cidr("192.0.2.7");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32u);
  EXPECT_TRUE(host->contains(addr("192.0.2.7")));
  EXPECT_FALSE(host->contains(addr("192.0.2.8")));

  auto all = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(addr("203.0.113.9")));
  EXPECT_FALSE(all->contains(addr("2001:db8::1")));
}

TEST(Net, CidrV6) {
  auto c = parse_cidr("2001:db8::/33");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(addr("2001:db8:7fff::1")));
  EXPECT_FALSE(c->contains(addr("2001:db8:8000::1")));
  EXPECT_FALSE(c->contains(addr("10.0.0.1")));
  auto all = parse_cidr("::/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(addr("fe80::1")));
  auto one = parse_cidr("::1/128");
  ASSERT_TRUE(one);
  EXPECT_TRUE(one->contains(addr("::1")));
  EXPECT_FALSE(one->contains(addr("::2")));
}

TEST(Net, MappedCidrBecomesV4) {
  auto c = parse_cidr("::ffff:10.0.0.0");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->network.is_v4());
  EXPECT_EQ(c->prefix, 32u);
}

TEST(Net, CidrRejects) {
  for (const char* s : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "2001:db8::/129",
                        "10.0.0.0/8/8", "nothing/8", "10.0.0.0/ 8"})
    EXPECT_FALSE(parse_cidr(s)) << s;
}

TEST(Net, CidrSet) {
  CidrSet s;
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(s.contains(addr("10.0.0.1")));
  s.add(*parse_cidr("10.0.0.0/8"));
  s.add(*parse_cidr("fd00::/8"));
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(s.contains(addr("10.9.9.9")));
  EXPECT_TRUE(s.contains(addr("fd12::1")));
  EXPECT_FALSE(s.contains(addr("192.168.0.1")));
}

TEST(Net, PrivateRanges) {
  for (const char* s : {"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "100.64.0.1", "127.0.0.1",
                        "169.254.1.1", "fc00::1", "fd00::1", "fe80::1", "::1", "::ffff:192.168.1.1"})
    EXPECT_TRUE(is_private(addr(s))) << s;
  for (const char* s : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2001:db8::1", "::ffff:8.8.8.8"})
    EXPECT_FALSE(is_private(addr(s))) << s;
}

TEST(Net, UnspecifiedOrMulticast) {
  for (const char* s : {"0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:0.0.0.0"})
    EXPECT_TRUE(is_unspecified_or_multicast(addr(s))) << s;
  for (const char* s : {"1.1.1.1", "::1", "10.0.0.1"}) EXPECT_FALSE(is_unspecified_or_multicast(addr(s))) << s;
}

TEST(AddressKey, OneKeyPerIpv4AddressAndPerIpv6Slash64) {
  auto key = [](const char* text) { return address_key(*parse_address(text)); };
  EXPECT_EQ(key("10.1.2.3"), 0x0a010203u);
  EXPECT_EQ(key("::ffff:10.1.2.3"), key("10.1.2.3"));
  EXPECT_NE(key("10.1.2.3"), key("10.1.2.4"));
  EXPECT_EQ(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_EQ(key("2001:db8:1:2::1"), 0x20010db800010002u);
  EXPECT_NE(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
  EXPECT_NE(key("2001:db8::"), key("0.0.0.0"));
}

TEST(Protocol, NamesAndMetricIndices) {
  EXPECT_STREQ(to_string(Protocol::http), "http");
  EXPECT_STREQ(to_string(Protocol::udp), "udp");
  EXPECT_EQ(static_cast<int>(Protocol::http), 0);
  EXPECT_EQ(static_cast<int>(Protocol::udp), 1);
}

}  // namespace
}  // namespace otaswarm::net

// The SOCKS5 UDP request header codec (RFC 1928 §7), without sockets.
#include "agent/socks5_wire.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

TEST(Socks5Udp, HeaderRoundTripAndRefusals) {
  udp::endpoint e(asio::ip::make_address("198.51.100.7"), 6881);
  std::string h = socks5::udp_header(e);
  EXPECT_EQ(h.size(), 10u);
  auto p = socks5::parse_udp_header(h + "data");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->endpoint, e);
  EXPECT_EQ(p->size, 10u);
  std::string frag = h;
  frag[2] = 1;  // fragments are not used by libtorrent
  EXPECT_FALSE(socks5::parse_udp_header(frag));
  EXPECT_FALSE(socks5::parse_udp_header(std::string("\0\0\0\3", 4) + "x"));  // domain names
  EXPECT_FALSE(socks5::parse_udp_header(h.substr(0, 7)));
}
}  // namespace
}  // namespace otaswarm::agent

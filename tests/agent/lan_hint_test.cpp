#include "agent/lan_hint.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace otaswarm::agent {
namespace {

std::string fixture(const std::string& name) { return std::string(OTASWARM_AGENT_FIXTURES) + "/" + name; }

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(LanHint, DefaultRouteWithLowestMetricWins) {
  auto r = parse_default_route(slurp(fixture("route_two_defaults.txt")));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->interface, "eth0");
  EXPECT_EQ(r->gateway, "192.168.1.1");
}

TEST(LanHint, NoDefaultRoute) {
  EXPECT_FALSE(parse_default_route(slurp(fixture("route_no_default.txt"))));
  EXPECT_FALSE(parse_default_route(""));
  EXPECT_FALSE(parse_default_route("garbage\n\n\t\t\nIface Destination\n"));
}

TEST(LanHint, DownOrGatewaylessRoutesDoNotCount) {
  // Flags 0001 (up, no gateway) and 0002 (gateway, not up).
  EXPECT_FALSE(parse_default_route("eth0\t00000000\t0101A8C0\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"));
  EXPECT_FALSE(parse_default_route("eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n"));
  EXPECT_FALSE(parse_default_route("eth0\t00000000\t00000000\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"));
}

TEST(LanHint, NeighbourFromProcNetArp) {
  std::string arp = slurp(fixture("arp.txt"));
  EXPECT_EQ(parse_neighbour_mac(arp, "192.168.1.1"), "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(parse_neighbour_mac(arp, "192.168.0.1"), "aa:bb:cc:00:00:01");
  EXPECT_FALSE(parse_neighbour_mac(arp, "192.168.1.77"));  // incomplete
  EXPECT_FALSE(parse_neighbour_mac(arp, "192.168.1.2"));
  EXPECT_FALSE(parse_neighbour_mac(arp, "192.168.1"));     // no prefix match
}

TEST(LanHint, NeighbourFromIpNeigh) {
  std::string n = slurp(fixture("ip_neigh.txt"));
  EXPECT_EQ(parse_neighbour_mac(n, "192.168.1.1"), "aa:bb:cc:dd:ee:ff");
  EXPECT_FALSE(parse_neighbour_mac(n, "192.168.1.77"));
}

TEST(LanHint, DerivationIsSaltedAndStable) {
  DefaultRoute r{"eth0", "192.168.1.1"};
  std::string a = derive_lan_hint("salt-a", r, std::string("aa:bb:cc:dd:ee:ff"));
  EXPECT_EQ(a.size(), kLanHintHexChars);
  EXPECT_EQ(a, derive_lan_hint("salt-a", DefaultRoute{"wlan0", "10.0.0.1"}, std::string("aa:bb:cc:dd:ee:ff")))
      << "the gateway's MAC names the LAN, not its address or our interface";
  EXPECT_NE(a, derive_lan_hint("salt-b", r, std::string("aa:bb:cc:dd:ee:ff")));
  EXPECT_NE(a, derive_lan_hint("salt-a", r, std::nullopt));
  EXPECT_EQ(derive_lan_hint("salt-a", r, std::nullopt), derive_lan_hint("salt-a", r, std::nullopt));
  // Pinned: another implementation (an OTA client in Kotlin) must agree byte for byte.
  // printf 'otaswarm-lan-v1\nsalt-a\nmac:aa:bb:cc:dd:ee:ff' | sha256sum | cut -c1-32
  EXPECT_EQ(a, "0d3fe0fd7ee6df8737f767764e27e1ee");
}

TEST(LanHint, DiscoverFromFixtureFiles) {
  LanInfo info = discover_lan({fixture("route_two_defaults.txt"), fixture("arp.txt")}, "salt-a");
  ASSERT_TRUE(info.route);
  EXPECT_EQ(info.gateway_mac, "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(info.hint, derive_lan_hint("salt-a", *info.route, info.gateway_mac));
  EXPECT_TRUE(info.problem.empty());

  LanInfo none = discover_lan({fixture("route_no_default.txt"), fixture("arp.txt")}, "salt-a");
  EXPECT_TRUE(none.hint.empty());
  EXPECT_NE(none.problem.find("no IPv4 default route"), std::string::npos);

  LanInfo missing = discover_lan({fixture("does-not-exist"), fixture("arp.txt")}, "salt-a");
  EXPECT_TRUE(missing.hint.empty());
  EXPECT_NE(missing.problem.find("cannot read"), std::string::npos);

  LanInfo no_mac = discover_lan({fixture("route_two_defaults.txt"), fixture("does-not-exist")}, "salt-a");
  EXPECT_FALSE(no_mac.gateway_mac);
  EXPECT_EQ(no_mac.hint, derive_lan_hint("salt-a", *no_mac.route, std::nullopt));
}

}  // namespace
}  // namespace otaswarm::agent

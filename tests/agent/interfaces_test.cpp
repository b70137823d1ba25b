// The device's own networks, read from the real interfaces (loopback is always there).
#include "agent/interfaces.h"

#include <gtest/gtest.h>

namespace otaswarm::agent {
namespace {

TEST(Interfaces, LoopbackIsALocalNetwork) {
  auto nets = local_networks();
  auto lo = *net::parse_address("127.0.0.1");
  bool found = false;
  for (const auto& c : nets) found = found || c.contains(lo);
  EXPECT_TRUE(found);
  EXPECT_FALSE([&] {
    for (const auto& c : nets)
      if (c.contains(*net::parse_address("192.0.2.255")) && c.prefix == 0) return true;
    return false;
  }()) << "a /0 would make every peer a LAN peer";
}

TEST(Interfaces, Ipv4OfAnInterface) {
  EXPECT_EQ(interface_ipv4("lo"), "127.0.0.1");
  EXPECT_FALSE(interface_ipv4("no-such-if0").has_value());
}

}  // namespace
}  // namespace otaswarm::agent

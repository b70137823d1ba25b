#include "agent/byte_accounting.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace otaswarm::agent {
namespace {

net::Address ip(const char* s) { return *net::parse_address(s); }

TEST(ByteAccounting, WebSeedsAreWebseedWhateverTheirAddress) {
  EXPECT_EQ(classify(ConnectionKind::web_seed, ip("52.216.1.1"), {}), Path::webseed);
  EXPECT_EQ(classify(ConnectionKind::web_seed, ip("127.0.0.1"), {}), Path::webseed);
  EXPECT_EQ(classify(ConnectionKind::web_seed, ip("192.168.1.9"), {}), Path::webseed);
}

TEST(ByteAccounting, PrivateAndLocalPeersAreLan) {
  for (const char* a : {"192.168.1.9", "10.1.2.3", "172.16.0.5", "127.0.0.1", "169.254.3.4", "fd00::5", "fe80::1",
                        "::ffff:192.168.1.9"})
    EXPECT_EQ(classify(ConnectionKind::peer, ip(a), {}), Path::lan) << a;
}

TEST(ByteAccounting, PublicPeersAreDirectUnlessOnOurSubnet) {
  EXPECT_EQ(classify(ConnectionKind::peer, ip("198.51.100.7"), {}), Path::direct);
  EXPECT_EQ(classify(ConnectionKind::peer, ip("2001:db8:1::7"), {}), Path::direct);
  std::vector<net::Cidr> nets{*net::parse_cidr("2001:db8:1::/64"), *net::parse_cidr("198.51.100.0/24")};
  EXPECT_EQ(classify(ConnectionKind::peer, ip("2001:db8:1::7"), nets), Path::lan);
  EXPECT_EQ(classify(ConnectionKind::peer, ip("198.51.100.7"), nets), Path::lan);
  EXPECT_EQ(classify(ConnectionKind::peer, ip("2001:db8:2::7"), nets), Path::direct);
  EXPECT_EQ(classify(ConnectionKind::peer, ip("198.51.101.7"), nets), Path::direct);
}

TEST(ByteAccounting, CountersAndJson) {
  ByteCounters c;
  c.add_received(Path::webseed, 100);
  c.add_received(Path::lan, 20);
  c.add_received(Path::lan, 5);
  c.add_received(Path::direct, 1);
  c.add_uploaded(7);
  ByteTotals t = c.snapshot();
  EXPECT_EQ(t.of(Path::webseed), 100u);
  EXPECT_EQ(t.of(Path::lan), 25u);
  EXPECT_EQ(t.received_total(), 126u);
  EXPECT_EQ(t.uploaded, 7u);
  EXPECT_EQ(json_dump(bytes_json(t)), R"({"webseed":100,"lan":25,"direct":1,"punched":0,"relayed":0})");
}

TEST(ByteAccounting, ConcurrentWritersLoseNothing) {
  ByteCounters c;
  constexpr int kThreads = 4, kAdds = 10000;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i)
    ts.emplace_back([&] {
      for (int j = 0; j < kAdds; ++j) c.add_received(Path::direct, 3);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.snapshot().of(Path::direct), uint64_t{3} * kThreads * kAdds);
}

}  // namespace
}  // namespace otaswarm::agent

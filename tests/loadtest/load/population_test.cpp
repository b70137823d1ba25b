#include "loadtest/load/population.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>

#include "common/proto/nat.h"
#include "common/proto/token.h"

namespace otaswarm::loadtest {
namespace {

PopulationConfig base(uint32_t phones) {
  PopulationConfig c;
  c.phones = phones;
  c.info_hashes.push_back(crypto::sha1("release-a"));
  c.path_base = "/announce";
  c.torrent_length = 1000;
  return c;
}

TEST(Lifecycle, StartedPeriodicCompletedThenSeeds) {
  Lifecycle l{2, false};
  EXPECT_EQ(l.event_at(0), Event::started);
  EXPECT_EQ(l.event_at(1), Event::none);
  EXPECT_EQ(l.event_at(2), Event::none);
  EXPECT_EQ(l.event_at(3), Event::completed);
  EXPECT_EQ(l.event_at(4), Event::none);
  EXPECT_EQ(l.cycle(), 0u);
}

TEST(Population, CycleWithStoppedStartsOver) {
  auto c = base(1);
  c.lifecycle = {1, true};
  Population p(c);
  std::vector<Event> seen;
  std::vector<int64_t> left;
  for (int i = 0; i < 8; ++i) {
    auto a = p.next(0);
    seen.push_back(a.event);
    left.push_back(a.left);
  }
  EXPECT_EQ(seen, (std::vector<Event>{Event::started, Event::none, Event::completed, Event::stopped, Event::started,
                                      Event::none, Event::completed, Event::stopped}));
  EXPECT_EQ(left, (std::vector<int64_t>{1000, 500, 0, 0, 1000, 500, 0, 0}));
}

TEST(Population, MintsAVerifiableTokenPerPhone) {
  auto c = base(3);
  c.token_key = "0123456789abcdef0123456789abcdef";
  c.token_expiry = 2'000'000'000;
  Population p(c);
  ManualClock clock(1'900'000'000);
  token::KeyRing keys(c.token_key);
  std::set<std::string> paths;
  for (uint32_t i = 0; i < 3; ++i) {
    const std::string& path = p.path_of(i);
    ASSERT_EQ(path.rfind("/announce/", 0), 0u) << path;
    auto v = token::verify(keys, path.substr(10), clock);
    EXPECT_EQ(v.status, token::Status::ok) << path;
    EXPECT_EQ(v.device_id, "loadtest-0000000" + std::to_string(i));
    paths.insert(path);
  }
  EXPECT_EQ(paths.size(), 3u);
  auto plain = base(1);
  Population q(plain);
  EXPECT_EQ(q.path_of(0), "/announce");
  c.device_prefix = "rung7-";
  Population r(c);
  EXPECT_EQ(token::verify(keys, r.path_of(2).substr(10), clock).device_id, "rung7-00000002");
}

// "k=v&k=v" after the first '?' of a path, as a map.
std::map<std::string, std::string> query_of(const std::string& path) {
  std::map<std::string, std::string> out;
  size_t q = path.find('?');
  if (q == std::string::npos) return out;
  std::string rest = path.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string item = rest.substr(0, amp);
    size_t eq = item.find('=');
    out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
  }
  return out;
}

TEST(Population, HouseholdsShareAnAddressALanHintAndANatClass) {
  auto c = base(60);
  c.token_key = "0123456789abcdef0123456789abcdef";
  c.token_expiry = 2'000'000'000;
  c.source_cidr = net::parse_cidr("127.9.0.0/24");
  c.slots = 10;
  c.household_phones = 3;
  c.lan_hints = true;
  std::string err;
  c.nat_mix = parse_nat_mix("port-restricted=1,symmetric=1", err);
  ASSERT_TRUE(c.nat_mix) << err;
  Population p(c);
  EXPECT_EQ(p.households(), 20u);
  ManualClock clock(1'900'000'000);
  token::KeyRing keys(c.token_key);
  std::map<uint64_t, std::set<std::string>> hints, classes, addresses;
  std::set<std::string> localips;
  for (uint32_t i = 0; i < 60; ++i) {
    const std::string& path = p.path_of(i);
    auto q = query_of(path);
    ASSERT_EQ(q.size(), 3u) << path;
    auto t = nat::verify_ticket(keys, q["nat"], clock);
    ASSERT_EQ(t.status, nat::TicketStatus::ok) << path;
    char id[16];
    std::snprintf(id, sizeof id, "%08u", i);
    EXPECT_EQ(t.ticket.device_id, std::string("loadtest-") + id);
    auto src = p.source_address(p.slot_of(i));
    EXPECT_EQ(t.ticket.reflexive, net::format(*src, p.next(i).port));
    uint64_t home = p.household_of(i);
    hints[home].insert(q["lan"]);
    classes[home].insert(nat::to_string(t.ticket.cls.mapping));
    addresses[home].insert(src->to_string());
    localips.insert(q["localip"]);
    EXPECT_EQ(token::verify(keys, path.substr(10, path.find('?') - 10), clock).status, token::Status::ok);
  }
  EXPECT_EQ(hints.size(), 20u);
  std::set<std::string> all_hints, all_classes;
  for (auto& [home, h] : hints) {
    EXPECT_EQ(h.size(), 1u);
    EXPECT_EQ(classes[home].size(), 1u);
    EXPECT_EQ(addresses[home].size(), 1u);
    all_hints.insert(*h.begin());
    all_classes.insert(*classes[home].begin());
  }
  EXPECT_EQ(all_hints.size(), 20u);   // a hint names one household
  EXPECT_EQ(all_classes.size(), 2u);  // both classes of the mix occur
  EXPECT_EQ(localips, (std::set<std::string>{"192.168.1.10", "192.168.1.11", "192.168.1.12"}));
}

TEST(Population, NatMixParsing) {
  std::string err;
  auto m = parse_nat_mix("public=1,symmetric=3", err);
  ASSERT_TRUE(m) << err;
  EXPECT_DOUBLE_EQ((*m)[0], 0.25);
  EXPECT_DOUBLE_EQ((*m)[4], 0.75);
  EXPECT_FALSE(parse_nat_mix("cone=1", err));
  EXPECT_FALSE(parse_nat_mix("symmetric=-1", err));
  EXPECT_FALSE(parse_nat_mix("symmetric=x", err));
  EXPECT_FALSE(parse_nat_mix("symmetric=0", err));
  EXPECT_FALSE(parse_nat_mix("", err));
}

TEST(Population, SpreadsPhonesOverDistinctSourceAddressesAndPorts) {
  auto c = base(1000);
  c.source_cidr = net::parse_cidr("127.1.0.0/16");
  c.slots = 100;
  Population p(c);
  ASSERT_EQ(p.slots(), 100u);
  std::set<std::string> addrs, peers;
  for (uint32_t i = 0; i < 1000; ++i) {
    auto addr = p.source_address(p.slot_of(i));
    ASSERT_TRUE(addr);
    EXPECT_TRUE(c.source_cidr->contains(*addr));
    addrs.insert(addr->to_string());
    peers.insert(addr->to_string() + ":" + std::to_string(p.next(i).port));
  }
  EXPECT_EQ(addrs.size(), 100u);
  EXPECT_EQ(addrs.count("127.1.0.0"), 0u);  // the network address is skipped
  EXPECT_EQ(peers.size(), 1000u);           // every phone is a distinct peer
}

TEST(Population, SlotsCappedByTheCidrAndPortsDistinctWithoutOne) {
  auto c = base(50);
  c.source_cidr = net::parse_cidr("127.2.0.0/30");
  c.slots = 64;
  Population p(c);
  EXPECT_EQ(p.slots(), 2u);
  EXPECT_EQ(p.source_address(1)->to_string(), "127.2.0.2");

  auto d = base(50);
  d.slots = 8;
  Population q(d);
  EXPECT_FALSE(q.source_address(0));
  std::set<uint16_t> ports;
  for (uint32_t i = 0; i < 50; ++i) ports.insert(q.next(i).port);
  EXPECT_EQ(ports.size(), 50u);  // all phones share the one OS-chosen address
}

TEST(Population, PeerIdsAreDistinct) {
  Population p(base(3));
  auto a = p.next(1), b = p.next(2);
  EXPECT_NE(a.peer_id, b.peer_id);
  EXPECT_EQ(std::string(a.peer_id.begin(), a.peer_id.begin() + 8), "-OS0001-");
}

}  // namespace
}  // namespace otaswarm::loadtest

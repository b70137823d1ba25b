// The RFC 5780 probe as a state machine, driven through a simulated NAT and a simulated
// two-address STUN server on a fake clock: every classic NAT type, the failure paths, the
// retransmission schedule.
#include "agent/nat_probe.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

namespace otaswarm::agent {
namespace {

using namespace std::chrono_literals;
using nat::Filtering;
using nat::Mapping;

net::Address ip(const char* s) { return *net::parse_address(s); }
bool same(const net::HostPort& a, const net::HostPort& b) { return a.address == b.address && a.port == b.port; }

struct NatModel {
  bool public_address = false;
  Mapping mapping = Mapping::endpoint_independent;
  Filtering filtering = Filtering::endpoint_independent;
  bool hairpin = true;
};

struct ServerModel {
  bool silent = false;          // nothing answers
  bool alternate_dead = false;  // the alternate IP answers nothing
  bool other_address = true;    // announces OTHER-ADDRESS
};

// One device behind one NAT talking to one RFC 5780 server (two IPs × two ports).
class Network {
 public:
  Network(NatModel nat, ServerModel server) : nat_(nat), server_(server) {}

  const net::HostPort primary{ip("198.51.100.1"), 3478};
  const net::HostPort alternate{ip("198.51.100.2"), 3479};
  const net::HostPort local[2] = {{ip("192.168.1.10"), 5000}, {ip("192.168.1.10"), 5001}};
  const net::Address public_ip = ip("203.0.113.7");

  net::HostPort primary_local() const { return nat_.public_address ? mapped_public(0) : local[0]; }

  // Sends one datagram from the device; returns what comes back to it, if anything.
  std::optional<std::pair<ProbeSocket, std::string>> send(const ProbeDatagram& d) {
    int s = static_cast<int>(d.socket);
    net::HostPort src = nat_.public_address ? mapped_public(s) : map(s, d.to);
    if (same(d.to, src)) {  // to our own mapped address: the hairpin test
      if (nat_.hairpin) return std::make_pair(ProbeSocket::primary, d.bytes);
      return std::nullopt;
    }
    if (!nat_.public_address) sent_[s].insert({d.to.address.to_string(), d.to.port});
    if (server_.silent || !is_server(d.to)) return std::nullopt;
    if (server_.alternate_dead && d.to.address == alternate.address) return std::nullopt;
    auto r = stun::parse(d.bytes);
    if (!r.ok()) return std::nullopt;
    uint32_t change = 0;
    if (const auto* c = r.message.find(stun::attr::change_request)) change = *stun::decode_u32(c->value);
    net::HostPort from = d.to;
    if (change & stun::kChangeIp) from.address = other(d.to).address;
    if (change & stun::kChangePort) from.port = other(d.to).port;
    if (server_.alternate_dead && from.address == alternate.address) return std::nullopt;
    stun::Builder b(stun::method::binding, stun::Class::success, r.message.transaction_id);
    b.add_xor_address(stun::attr::xor_mapped_address, src.address, src.port);
    if (server_.other_address) {
      auto o = other(d.to);
      b.add_address(stun::attr::other_address, o.address, o.port);
    }
    b.add_fingerprint();
    if (!nat_.public_address && !admits(s, from)) return std::nullopt;
    return std::make_pair(d.socket, b.bytes());
  }

 private:
  bool is_server(const net::HostPort& a) const {
    return (a.address == primary.address || a.address == alternate.address) &&
           (a.port == primary.port || a.port == alternate.port);
  }
  net::HostPort other(const net::HostPort& a) const {
    return {a.address == primary.address ? alternate.address : primary.address,
            a.port == primary.port ? alternate.port : primary.port};
  }
  net::HostPort mapped_public(int s) const { return {public_ip, local[s].port}; }
  net::HostPort map(int s, const net::HostPort& to) {
    std::tuple<int, std::string, uint16_t> key{s, "", 0};
    if (nat_.mapping != Mapping::endpoint_independent) std::get<1>(key) = to.address.to_string();
    if (nat_.mapping == Mapping::address_and_port_dependent) std::get<2>(key) = to.port;
    auto [it, fresh] = ports_.try_emplace(key, next_port_);
    if (fresh) ++next_port_;
    return {public_ip, it->second};
  }
  bool admits(int s, const net::HostPort& from) const {
    switch (nat_.filtering) {
      case Filtering::endpoint_independent:
        return true;
      case Filtering::address_dependent:
        for (const auto& [a, p] : sent_[s]) if (a == from.address.to_string()) return true;
        return false;
      default:
        return sent_[s].count({from.address.to_string(), from.port}) > 0;
    }
  }

  NatModel nat_;
  ServerModel server_;
  std::map<std::tuple<int, std::string, uint16_t>, uint16_t> ports_;
  uint16_t next_port_ = 40000;
  std::set<std::pair<std::string, uint16_t>> sent_[2];
};

struct Run {
  ProbeResult result;
  int sent = 0;
  ProbeClock::duration elapsed{};
};

Run run(NatModel nat, ServerModel server = {}) {
  Network net(nat, server);
  ProbeOptions o;
  o.server = net.primary;
  NatProbe probe(o, net.primary_local());
  auto t0 = ProbeClock::time_point{} + 1h;
  auto now = t0;
  probe.start(now);
  Run r;
  for (int guard = 0; !probe.done() && guard < 1000; ++guard) {
    while (auto d = probe.poll(now)) {
      ++r.sent;
      if (auto in = net.send(*d)) probe.on_datagram(in->first, in->second, now + 1ms);
    }
    if (!probe.done()) now = std::max(now, probe.wakeup());
  }
  EXPECT_TRUE(probe.done());
  r.result = probe.result();
  r.elapsed = now - t0;
  return r;
}

TEST(NatProbe, PublicAddressIsOpenAndSkipsHairpinning) {
  auto r = run({.public_address = true}).result;
  EXPECT_TRUE(r.nat.public_address);
  EXPECT_EQ(r.nat.mapping, Mapping::endpoint_independent);
  EXPECT_EQ(r.nat.filtering, Filtering::endpoint_independent);
  EXPECT_FALSE(r.hairpinning.has_value());
  EXPECT_TRUE(r.classified());
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(NatProbe, FullCone) {
  auto r = run({.mapping = Mapping::endpoint_independent, .filtering = Filtering::endpoint_independent}).result;
  EXPECT_FALSE(r.nat.public_address);
  EXPECT_EQ(r.nat.mapping, Mapping::endpoint_independent);
  EXPECT_EQ(r.nat.filtering, Filtering::endpoint_independent);
  ASSERT_TRUE(r.reflexive);
  EXPECT_EQ(r.reflexive->address, ip("203.0.113.7"));
  EXPECT_EQ(r.hairpinning, true);
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(NatProbe, RestrictedCone) {
  auto r = run({.mapping = Mapping::endpoint_independent, .filtering = Filtering::address_dependent}).result;
  EXPECT_EQ(r.nat.mapping, Mapping::endpoint_independent);
  EXPECT_EQ(r.nat.filtering, Filtering::address_dependent);
}

TEST(NatProbe, PortRestrictedConeWithoutHairpinning) {
  auto r = run({.mapping = Mapping::endpoint_independent, .filtering = Filtering::address_and_port_dependent,
                .hairpin = false}).result;
  EXPECT_EQ(r.nat.mapping, Mapping::endpoint_independent);
  EXPECT_EQ(r.nat.filtering, Filtering::address_and_port_dependent);
  EXPECT_EQ(r.hairpinning, false);
  EXPECT_TRUE(r.classified());
}

TEST(NatProbe, AddressDependentMapping) {
  auto r = run({.mapping = Mapping::address_dependent, .filtering = Filtering::address_and_port_dependent}).result;
  EXPECT_EQ(r.nat.mapping, Mapping::address_dependent);
  EXPECT_EQ(r.nat.filtering, Filtering::address_and_port_dependent);
}

TEST(NatProbe, Symmetric) {
  auto r = run({.mapping = Mapping::address_and_port_dependent, .filtering = Filtering::address_and_port_dependent}).result;
  EXPECT_EQ(r.nat.mapping, Mapping::address_and_port_dependent);
  EXPECT_EQ(r.nat.filtering, Filtering::address_and_port_dependent);
  EXPECT_TRUE(r.error.empty()) << r.error;
}

TEST(NatProbe, SilentServerRetransmitsWithinTheTimeoutThenGivesUp) {
  auto r = run({}, {.silent = true});
  EXPECT_FALSE(r.result.classified());
  EXPECT_EQ(r.result.nat.mapping, Mapping::unknown);
  EXPECT_FALSE(r.result.reflexive.has_value());
  EXPECT_NE(r.result.error.find("no Binding response from 198.51.100.1:3478"), std::string::npos) << r.result.error;
  // RFC 8489 doubling: 0, rto, 3 rto, 7 rto, 15 rto with rto = timeout / 16, then the deadline.
  EXPECT_EQ(r.sent, 1 + kProbeRetransmits);
  EXPECT_EQ(r.elapsed, kDefaultProbeTimeout);
}

TEST(NatProbe, ServerWithoutOtherAddressIsNotRfc5780) {
  auto r = run({}, {.other_address = false}).result;
  EXPECT_FALSE(r.classified());
  EXPECT_TRUE(r.reflexive.has_value());
  EXPECT_NE(r.error.find("no OTHER-ADDRESS"), std::string::npos) << r.error;
  EXPECT_FALSE(r.hairpinning.has_value());
}

TEST(NatProbe, DeadAlternateAddressLeavesMappingUnknownButStillFilters) {
  auto r = run({.mapping = Mapping::address_and_port_dependent, .filtering = Filtering::endpoint_independent},
               {.alternate_dead = true}).result;
  EXPECT_EQ(r.nat.mapping, Mapping::unknown);
  EXPECT_NE(r.error.find("alternate address"), std::string::npos) << r.error;
  EXPECT_FALSE(r.classified());
  // CHANGE-IP replies come from the dead address; CHANGE-PORT alone from the live one.
  EXPECT_EQ(r.nat.filtering, Filtering::address_dependent);
}

TEST(NatProbe, IgnoresStrayAndMalformedDatagrams) {
  Network net({.mapping = Mapping::endpoint_independent, .filtering = Filtering::endpoint_independent}, {});
  ProbeOptions o;
  o.server = net.primary;
  NatProbe probe(o, net.primary_local());
  auto now = ProbeClock::time_point{} + 1h;
  probe.start(now);
  auto d = probe.poll(now);
  ASSERT_TRUE(d);
  probe.on_datagram(ProbeSocket::primary, "garbage", now);
  stun::Builder stray(stun::method::binding, stun::Class::success, stun::random_transaction_id());
  stray.add_xor_address(stun::attr::xor_mapped_address, ip("1.2.3.4"), 1);
  probe.on_datagram(ProbeSocket::primary, stray.bytes(), now);
  auto reply = net.send(*d);
  ASSERT_TRUE(reply);
  probe.on_datagram(ProbeSocket::filtering, reply->second, now);  // right bytes, wrong socket
  EXPECT_FALSE(probe.result().reflexive.has_value());
  probe.on_datagram(ProbeSocket::primary, reply->second, now);
  ASSERT_TRUE(probe.result().reflexive.has_value());
  EXPECT_EQ(probe.result().reflexive->address, ip("203.0.113.7"));
}

TEST(NatProbe, ErrorResponseEndsTheTestAtOnce) {
  Network net({}, {});
  ProbeOptions o;
  o.server = net.primary;
  NatProbe probe(o, net.primary_local());
  auto now = ProbeClock::time_point{} + 1h;
  probe.start(now);
  auto d = probe.poll(now);
  ASSERT_TRUE(d);
  auto req = stun::parse(d->bytes);
  ASSERT_TRUE(req.ok());
  stun::Builder err(stun::method::binding, stun::Class::error, req.message.transaction_id);
  err.add_error(stun::error::bad_request, "no");
  probe.on_datagram(ProbeSocket::primary, err.bytes(), now);
  EXPECT_TRUE(probe.done());
  EXPECT_FALSE(probe.result().classified());
}

}  // namespace
}  // namespace otaswarm::agent

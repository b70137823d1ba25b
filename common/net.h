#pragma once
// Address helpers: "ip:port" / "[v6]:port" parsing and formatting, CIDR sets, address classes,
// the per-subscriber address key, and the announce transport.
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otaswarm::net {

using Address = boost::asio::ip::address;

struct HostPort {
  Address address;
  uint16_t port = 0;
};

// Parses "1.2.3.4:80", "[::1]:80", ":80" (any IPv4) or "80"-less forms are rejected.
std::optional<HostPort> parse_host_port(std::string_view text);
std::string format(const Address& a, uint16_t port);
std::string format(const boost::asio::ip::udp::endpoint& ep);
std::string format(const boost::asio::ip::tcp::endpoint& ep);
std::optional<Address> parse_address(std::string_view text);

// IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes plain IPv4; everything else is unchanged.
Address unmap(const Address& a);

struct Cidr {
  Address network;
  unsigned prefix = 0;
  bool contains(const Address& a) const;
};
std::optional<Cidr> parse_cidr(std::string_view text);

class CidrSet {
 public:
  void add(const Cidr& c) { cidrs_.push_back(c); }
  bool contains(const Address& a) const;
  bool empty() const { return cidrs_.empty(); }

 private:
  std::vector<Cidr> cidrs_;
};

// RFC 1918, RFC 6598 (CGN), loopback, link-local, IPv6 ULA / link-local: not routable on the Internet.
bool is_private(const Address& a);
bool is_unspecified_or_multicast(const Address& a);

// Key for per-address limits (tracker admission, rendezvous STUN rate limit): the IPv4
// address, or the IPv6 /64 (one subscriber line), as a big-endian number. IPv4-mapped IPv6
// counts as IPv4; only the reserved ::/32 could meet an IPv4 key.
uint64_t address_key(const Address& a);

// How an announce travels. The values index the tracker's metric tables.
enum class Protocol : uint8_t { http = 0, udp = 1 };
const char* to_string(Protocol p);

}  // namespace otaswarm::net

#pragma once
// Address helpers: "ip:port" / "[v6]:port" parsing and formatting, CIDR sets, address classes.
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

}  // namespace otaswarm::net

#include "agent/interfaces.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <bitset>
#include <cstring>

namespace otaswarm::agent {
namespace {

std::optional<net::Address> to_address(const sockaddr* sa) {
  if (!sa) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return net::Address(boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr)));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), in6->sin6_addr.s6_addr, 16);
    return net::Address(boost::asio::ip::address_v6(b));
  }
  return std::nullopt;
}

unsigned prefix_of(const net::Address& mask) {
  unsigned n = 0;
  if (mask.is_v4()) return static_cast<unsigned>(std::bitset<32>(mask.to_v4().to_uint()).count());
  for (auto byte : mask.to_v6().to_bytes()) n += static_cast<unsigned>(std::bitset<8>(byte).count());
  return n;
}

}  // namespace

std::vector<net::Cidr> local_networks() {
  std::vector<net::Cidr> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!(i->ifa_flags & IFF_UP)) continue;
    auto addr = to_address(i->ifa_addr);
    auto mask = to_address(i->ifa_netmask);
    if (addr && mask && addr->is_v4() == mask->is_v4()) out.push_back(net::Cidr{*addr, prefix_of(*mask)});
  }
  freeifaddrs(list);
  return out;
}

std::optional<std::string> interface_ipv4(const std::string& name) {
  std::optional<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i && !out; i = i->ifa_next) {
    if (!i->ifa_name || name != i->ifa_name) continue;
    auto addr = to_address(i->ifa_addr);
    if (addr && addr->is_v4()) out = addr->to_string();
  }
  freeifaddrs(list);
  return out;
}

}  // namespace otaswarm::agent

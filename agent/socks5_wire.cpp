#include "agent/socks5_wire.h"

#include <cstring>

#include "common/net.h"

namespace otaswarm::agent {

namespace asio = boost::asio;
using asio::ip::udp;

namespace socks5 {
void put_endpoint(std::string& out, const asio::ip::address& a, uint16_t port) {
  auto addr = net::unmap(a);
  if (addr.is_v4()) {
    out.push_back(static_cast<char>(kIpv4));
    auto b = addr.to_v4().to_bytes();
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    out.push_back(static_cast<char>(kIpv6));
    auto b = addr.to_v6().to_bytes();
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  out.push_back(static_cast<char>(port >> 8));
  out.push_back(static_cast<char>(port & 0xFF));
}

asio::ip::address address_at(const uint8_t* p, uint8_t atyp) {
  if (atyp == kIpv4) {
    asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), p, b.size());
    return asio::ip::address_v4(b);
  }
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), p, b.size());
  return asio::ip::address_v6(b);
}
}  // namespace socks5

namespace socks5 {
std::optional<UdpHeader> parse_udp_header(std::string_view d) {
  if (d.size() < 4 || d[0] != 0 || d[1] != 0 || d[2] != 0) return std::nullopt;
  auto atyp = static_cast<uint8_t>(d[3]);
  size_t alen = atyp == kIpv4 ? 4 : atyp == kIpv6 ? 16 : 0;
  if (alen == 0 || d.size() < 4 + alen + 2) return std::nullopt;
  asio::ip::address addr = address_at(reinterpret_cast<const uint8_t*>(d.data()) + 4, atyp);
  auto port = static_cast<uint16_t>((static_cast<uint8_t>(d[4 + alen]) << 8) | static_cast<uint8_t>(d[5 + alen]));
  return UdpHeader{udp::endpoint(addr, port), 4 + alen + 2};
}

std::string udp_header(const udp::endpoint& from) {
  std::string h(3, '\0');
  put_endpoint(h, from.address(), from.port());
  return h;
}
}  // namespace socks5

}  // namespace otaswarm::agent

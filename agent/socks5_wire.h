#pragma once
// SOCKS5 (RFC 1928) wire constants and the UDP request header codec, without sockets: the
// relay in agent/socks5_udp.h uses them, the fuzz target reads them.
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace otaswarm::agent {

namespace socks5 {
inline constexpr uint8_t kVersion = 5;
inline constexpr uint8_t kNoAuth = 0, kNoAcceptableMethod = 0xFF;
inline constexpr uint8_t kConnect = 1, kUdpAssociate = 3;
inline constexpr uint8_t kIpv4 = 1, kDomain = 3, kIpv6 = 4;
inline constexpr uint8_t kSucceeded = 0, kGeneralFailure = 1, kHostUnreachable = 4, kCommandNotSupported = 7,
                         kAddressNotSupported = 8;

// RFC 1928 §7 UDP request header: RSV(2) FRAG(1) ATYP(1) DST.ADDR DST.PORT, then the data.
// Fragments (FRAG ≠ 0) and domain names are not used by libtorrent: refused (nullopt).
struct UdpHeader {
  boost::asio::ip::udp::endpoint endpoint;
  size_t size = 0;  // header bytes before the data
};
std::optional<UdpHeader> parse_udp_header(std::string_view datagram);
std::string udp_header(const boost::asio::ip::udp::endpoint& from);
// ATYP, address and port (IPv4-mapped addresses as IPv4).
void put_endpoint(std::string& out, const boost::asio::ip::address& a, uint16_t port);
// The IPv4 (kIpv4: 4 bytes) or IPv6 (16 bytes) address at p.
boost::asio::ip::address address_at(const uint8_t* p, uint8_t atyp);
}  // namespace socks5

}  // namespace otaswarm::agent

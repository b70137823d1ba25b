#include "common/net.h"

#include <charconv>

namespace otaswarm::net {

namespace {
constexpr size_t kIpv6SubscriberPrefixBytes = 8;  // a /64 is one subscriber line
}  // namespace

std::optional<Address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6 needs brackets
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  HostPort hp;
  hp.port = static_cast<uint16_t>(p);
  if (host.empty() || host == "*") {
    hp.address = boost::asio::ip::address_v4::any();
  } else if (host == "localhost") {
    hp.address = boost::asio::ip::address_v4::loopback();
  } else {
    auto a = parse_address(host);
    if (!a) return std::nullopt;
    hp.address = *a;
  }
  return hp;
}

std::string format(const Address& a, uint16_t port) {
  if (a.is_v6()) return "[" + a.to_string() + "]:" + std::to_string(port);
  return a.to_string() + ":" + std::to_string(port);
}
std::string format(const boost::asio::ip::udp::endpoint& ep) { return format(ep.address(), ep.port()); }
std::string format(const boost::asio::ip::tcp::endpoint& ep) { return format(ep.address(), ep.port()); }

Address unmap(const Address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

bool Cidr::contains(const Address& raw) const {
  Address a = unmap(raw);
  if (a.is_v4() != network.is_v4()) return false;
  if (a.is_v4()) {
    uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    return (a.to_v4().to_uint() & mask) == (network.to_v4().to_uint() & mask);
  }
  auto x = a.to_v6().to_bytes();
  auto y = network.to_v6().to_bytes();
  unsigned bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i) {
    unsigned take = bits >= 8 ? 8 : bits;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - take));
    if ((x[i] & mask) != (y[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto a = parse_address(text.substr(0, slash));
  if (!a) return std::nullopt;
  Cidr c{unmap(*a), 0};
  unsigned maxp = c.network.is_v4() ? 32 : 128;
  if (slash == std::string_view::npos) {
    c.prefix = maxp;
    return c;
  }
  auto ps = text.substr(slash + 1);
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), p);
  if (ps.empty() || ec != std::errc() || ptr != ps.data() + ps.size() || p > maxp) return std::nullopt;
  c.prefix = p;
  return c;
}

bool CidrSet::contains(const Address& a) const {
  for (const auto& c : cidrs_)
    if (c.contains(a)) return true;
  return false;
}

bool is_private(const Address& raw) {
  static const std::vector<Cidr> ranges = [] {
    std::vector<Cidr> r;
    for (const char* s : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
                          "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"})
      r.push_back(*parse_cidr(s));
    return r;
  }();
  Address a = unmap(raw);
  for (const auto& c : ranges)
    if (c.contains(a)) return true;
  return false;
}

bool is_unspecified_or_multicast(const Address& raw) {
  Address a = unmap(raw);
  return a.is_unspecified() || a.is_multicast();
}

uint64_t address_key(const Address& raw) {
  auto a = unmap(raw);
  if (a.is_v4()) return a.to_v4().to_uint();
  auto b = a.to_v6().to_bytes();
  uint64_t k = 0;
  for (size_t i = 0; i < kIpv6SubscriberPrefixBytes; ++i) k = k << 8 | b[i];
  return k;
}

const char* to_string(Protocol p) { return p == Protocol::http ? "http" : "udp"; }

}  // namespace otaswarm::net

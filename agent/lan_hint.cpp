#include "agent/lan_hint.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "common/crypto.h"

namespace otaswarm::agent {
namespace {

constexpr unsigned kRtfUp = 0x1, kRtfGateway = 0x2;  // <linux/route.h>
constexpr int kRouteIface = 0, kRouteDest = 1, kRouteGateway = 2, kRouteFlags = 3, kRouteMetric = 6,
              kRouteMask = 7, kRouteMinFields = 8;
constexpr unsigned kAtfComplete = 0x2;  // <linux/if_arp.h> ATF_COM

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

template <typename T>
bool parse_num(std::string_view s, T& out, int base) {
  if (s.empty()) return false;
  if (base == 16 && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

// The kernel prints a network-order __be32 with %08X as a host integer: its bytes in memory are
// the address's octets in order.
std::string ipv4_from_proc(uint32_t v) {
  unsigned char b[4];
  std::memcpy(b, &v, 4);
  return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." + std::to_string(b[3]);
}

bool valid_mac(std::string_view m) {
  if (m.size() != 17) return false;
  for (size_t i = 0; i < m.size(); ++i) {
    if (i % 3 == 2) {
      if (m[i] != ':') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(m[i]))) {
      return false;
    }
  }
  return m != "00:00:00:00:00:00";
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::string s(kMaxProcFileBytes, '\0');
  f.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<size_t>(f.gcount()));
  return s;
}

}  // namespace

std::optional<DefaultRoute> parse_default_route(std::string_view text) {
  std::optional<DefaultRoute> best;
  uint32_t best_metric = std::numeric_limits<uint32_t>::max();
  for_each_line(text, [&](std::string_view line) {
    auto f = fields(line);
    if (static_cast<int>(f.size()) < kRouteMinFields) return;
    uint32_t dest = 0, gw = 0, mask = 0, metric = 0;
    unsigned flags = 0;
    if (!parse_num(f[kRouteDest], dest, 16) || !parse_num(f[kRouteGateway], gw, 16) ||
        !parse_num(f[kRouteFlags], flags, 16) || !parse_num(f[kRouteMask], mask, 16) ||
        !parse_num(f[kRouteMetric], metric, 10))
      return;  // the header line, or garbage
    if (dest != 0 || mask != 0 || gw == 0 || (flags & (kRtfUp | kRtfGateway)) != (kRtfUp | kRtfGateway)) return;
    if (best && metric >= best_metric) return;
    best = DefaultRoute{std::string(f[kRouteIface]), ipv4_from_proc(gw)};
    best_metric = metric;
  });
  return best;
}

std::optional<std::string> parse_neighbour_mac(std::string_view table, std::string_view ip) {
  std::optional<std::string> found;
  for_each_line(table, [&](std::string_view line) {
    if (found) return;
    auto f = fields(line);
    if (f.empty() || f[0] != ip) return;
    // /proc/net/arp: IP HWtype Flags HWaddress Mask Device
    unsigned flags = 0;
    if (f.size() >= 6 && parse_num(f[2], flags, 16)) {
      if ((flags & kAtfComplete) && valid_mac(f[3])) found = lower(f[3]);
      return;
    }
    // ip neigh: IP dev IF lladdr MAC STATE
    for (size_t i = 1; i + 1 < f.size(); ++i) {
      if (f[i] == "lladdr" && valid_mac(f[i + 1])) {
        if (f.back() != "FAILED" && f.back() != "INCOMPLETE") found = lower(f[i + 1]);
        return;
      }
    }
  });
  return found;
}

std::string derive_lan_hint(std::string_view salt, const DefaultRoute& route, const std::optional<std::string>& mac) {
  std::string msg = "otaswarm-lan-v1\n";
  msg.append(salt);
  msg += "\n";
  msg += mac ? "mac:" + *mac : "ip:" + route.gateway;
  auto digest = crypto::sha256(msg);
  return crypto::hex(std::span<const uint8_t>(digest)).substr(0, kLanHintHexChars);
}

LanInfo discover_lan(const LanSources& sources, std::string_view salt) {
  LanInfo info;
  auto routes = read_small_file(sources.route_path);
  if (!routes) {
    info.problem = "cannot read " + sources.route_path;
    return info;
  }
  info.route = parse_default_route(*routes);
  if (!info.route) {
    info.problem = "no IPv4 default route in " + sources.route_path;
    return info;
  }
  if (auto neigh = read_small_file(sources.neighbour_path)) info.gateway_mac = parse_neighbour_mac(*neigh, info.route->gateway);
  info.hint = derive_lan_hint(salt, *info.route, info.gateway_mac);
  return info;
}

}  // namespace otaswarm::agent

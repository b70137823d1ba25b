#pragma once
// The LAN hint (`lan` announce parameter, docs/locality.md): a salted hash naming the home
// network, derived from the default gateway (its MAC from the neighbour table, else its IP).
// Parsers take text so tests feed fixture files; the readers take paths for the same reason.
#include <optional>
#include <string>
#include <string_view>

namespace otaswarm::agent {

inline constexpr const char* kProcNetRoute = "/proc/net/route";
inline constexpr const char* kProcNetArp = "/proc/net/arp";
inline constexpr size_t kMaxProcFileBytes = 1 << 20;  // neighbour tables of huge LANs still fit
inline constexpr size_t kLanHintHexChars = 32;        // 128 bits of the hash

struct DefaultRoute {
  std::string interface;  // e.g. "wlan0"
  std::string gateway;    // dotted IPv4
};

// The IPv4 default route with the lowest metric from /proc/net/route text; nullopt if none.
std::optional<DefaultRoute> parse_default_route(std::string_view proc_net_route);

// The gateway's link-layer address ("02:fc:00:00:00:05", lower case) from /proc/net/arp text or
// `ip neigh` output; incomplete entries (no address, 00:00:00:00:00:00, FAILED) do not count.
std::optional<std::string> parse_neighbour_mac(std::string_view table, std::string_view ip);

// hex(SHA-256("otaswarm-lan-v1\n" + salt + "\n" + identity))[0:32], identity = "mac:<mac>" or,
// without a MAC, "ip:<gateway>". The salt is the release's info-hash: phones on one LAN agree,
// while hints of one home differ from release to release.
std::string derive_lan_hint(std::string_view salt, const DefaultRoute& route, const std::optional<std::string>& mac);

struct LanSources {
  std::string route_path = kProcNetRoute;
  std::string neighbour_path = kProcNetArp;
};

struct LanInfo {
  std::optional<DefaultRoute> route;
  std::optional<std::string> gateway_mac;
  std::string hint;     // empty when there is no default route
  std::string problem;  // why there is no hint (unreadable file, no default route)
};

// Reads both files and derives the hint; never throws.
LanInfo discover_lan(const LanSources& sources, std::string_view salt);

}  // namespace otaswarm::agent

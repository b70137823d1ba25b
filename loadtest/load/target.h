#pragma once
// The tracker under load: "udp://ip:port[/path]" or "http://ip:port[/path]".
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"

namespace otaswarm::loadtest {

using net::Protocol;

struct Target {
  Protocol protocol = Protocol::udp;
  net::HostPort server;
  std::string path;  // "/announce" or "/announce/<token>"; empty for a bare udp:// URL
  std::string host_header;
};

// Hosts must be IP literals (no DNS: the generator only aims at addresses it can vouch for).
// A query string is refused because the generator writes its own.
std::optional<Target> parse_target(std::string_view url, std::string& why);

// Loopback always; RFC 1918 / ULA lab addresses (own network namespaces) only when allowed;
// never a public address.
bool target_allowed(const net::Address& a, bool allow_private, std::string& why);

}  // namespace otaswarm::loadtest

#pragma once
// The device's own addresses and subnets (getifaddrs): the LAN address sent as `localip`, and
// the networks whose peers count as LAN peers.
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"

namespace otaswarm::agent {

// Subnets of every interface that is up, loopback included.
std::vector<net::Cidr> local_networks();

// The first IPv4 address of interface `name`, dotted; nullopt if it has none.
std::optional<std::string> interface_ipv4(const std::string& name);

}  // namespace otaswarm::agent

#pragma once
// Drives a NatProbe on two UDP sockets of its own, blocking until the probe is done (the CLI's
// `nat probe`). The agent drives the same machine from the socket it already owns.
#include <boost/asio/ip/udp.hpp>

#include "agent/nat_probe.h"

namespace otaswarm::agent {

// `bind` is the primary socket's local endpoint (use the device's data port so the reflexive
// endpoint is the one peers see); the filtering socket binds the same address, any port.
// Socket errors end the probe with `error` set; it never throws.
ProbeResult run_nat_probe(const ProbeOptions& options, const boost::asio::ip::udp::endpoint& bind);

}  // namespace otaswarm::agent

#pragma once
// BEP 15 datagrams the agent relays for libtorrent (agent/nat_session.h), on the existing
// codecs (common/proto/bep15*.h): announces get the agent's public port (libtorrent behind a
// proxy says 1) and the NAT ticket as `nat` in the BEP 41 URL data; announce replies are read
// for the peers the tracker hands out and rebuilt with only the peers libtorrent may dial.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/bep15.h"

namespace otaswarm::agent {

// Rewrites `datagram` in place when it is an announce; returns its transaction id, or nullopt
// (left untouched) for anything else. The ticket is added once, and only while the URL data
// stays within the BEP 41 bound.
std::optional<uint32_t> rewrite_announce(std::string& datagram, uint16_t port, std::string_view nat_ticket);

struct AnnounceReply {
  uint32_t transaction_id = 0, interval = 0, leechers = 0, seeders = 0;
  std::vector<udp::PeerV4> peers;
};
// An IPv4 announce reply, or nullopt.
std::optional<AnnounceReply> read_announce_reply(std::string_view datagram);
std::string build_announce_reply(const AnnounceReply& r);

}  // namespace otaswarm::agent

#pragma once
// libtorrent side of the byte accounting: a torrent plugin whose per-connection plugin counts
// every received block (on_piece, which fires for web seeds too) by path and every uploaded
// payload byte (sent_payload) into ByteCounters. Runs on libtorrent's network thread.
#include <libtorrent/add_torrent_params.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "agent/byte_accounting.h"
#include "common/net.h"

namespace otaswarm::agent {

// The path of a peer NAT traversal reached (punched, relayed) by its endpoint, or nullopt;
// called on libtorrent's network thread.
using PeerPath = std::function<std::optional<Path>(const net::Address&, uint16_t port)>;

// Adds the plugin to `atp.extensions`; `counters` must outlive the session.
void add_byte_accounting(libtorrent::add_torrent_params& atp, std::shared_ptr<ByteCounters> counters,
                         std::vector<net::Cidr> local_networks, PeerPath nat_path = {});

}  // namespace otaswarm::agent

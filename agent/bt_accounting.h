#pragma once
// libtorrent side of the byte accounting: a torrent plugin whose per-connection plugin counts
// every received block (on_piece, which fires for web seeds too) by path and every uploaded
// payload byte (sent_payload) into ByteCounters. Runs on libtorrent's network thread.
#include <libtorrent/add_torrent_params.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "agent/byte_accounting.h"
#include "common/net.h"

namespace otaswarm::agent {

// True for a peer endpoint a hole punch targeted (its bytes count as `punched`); called on
// libtorrent's network thread.
using PunchedPeer = std::function<bool(const net::Address&, uint16_t port)>;

// Adds the plugin to `atp.extensions`; `counters` must outlive the session.
void add_byte_accounting(libtorrent::add_torrent_params& atp, std::shared_ptr<ByteCounters> counters,
                         std::vector<net::Cidr> local_networks, PunchedPeer punched = {});

}  // namespace otaswarm::agent

#include "agent/bt_accounting.h"

#include <libtorrent/extensions.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_info.hpp>
#include <libtorrent/peer_request.hpp>

namespace otaswarm::agent {
namespace {
namespace lt = libtorrent;

class PeerCounter final : public lt::peer_plugin {
 public:
  PeerCounter(Path path, std::shared_ptr<ByteCounters> counters) : path_(path), counters_(std::move(counters)) {}
  bool on_piece(lt::peer_request const& r, lt::span<char const>) override {
    counters_->add_received(path_, static_cast<uint64_t>(r.length));
    return false;  // not handled: libtorrent stores the block as usual
  }
  void sent_payload(int bytes) override { counters_->add_uploaded(static_cast<uint64_t>(bytes)); }

 private:
  Path path_;
  std::shared_ptr<ByteCounters> counters_;
};

class TorrentCounter final : public lt::torrent_plugin {
 public:
  TorrentCounter(std::shared_ptr<ByteCounters> counters, std::vector<net::Cidr> nets, PeerPath punched)
      : counters_(std::move(counters)), nets_(std::move(nets)), punched_(std::move(punched)) {}
  std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override {
    auto type = pc.type();
    ConnectionKind kind = type == lt::connection_type::bittorrent ? ConnectionKind::peer : ConnectionKind::web_seed;
    auto remote = pc.remote();
    // A punched or relayed peer's address may well be private (a carrier NAT, the lab): NAT traversal decides.
    if (kind == ConnectionKind::peer && punched_)
      if (auto p = punched_(remote.address(), remote.port())) return std::make_shared<PeerCounter>(*p, counters_);
    return std::make_shared<PeerCounter>(classify(kind, remote.address(), nets_), counters_);
  }

 private:
  std::shared_ptr<ByteCounters> counters_;
  std::vector<net::Cidr> nets_;
  PeerPath punched_;
};

}  // namespace

void add_byte_accounting(lt::add_torrent_params& atp, std::shared_ptr<ByteCounters> counters,
                         std::vector<net::Cidr> local_networks, PeerPath punched) {
  atp.extensions.push_back([counters, nets = std::move(local_networks), punched = std::move(punched)](
                               lt::torrent_handle const&, lt::client_data_t) {
    return std::make_shared<TorrentCounter>(counters, nets, punched);
  });
}

}  // namespace otaswarm::agent

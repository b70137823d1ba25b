#include "agent/announce_rewrite.h"

#include <span>

#include "common/proto/bep15_client.h"

namespace otaswarm::agent {

namespace {
constexpr size_t kPeerV4Size = 6;
constexpr std::string_view kNatParam = "nat=";
}  // namespace

std::optional<uint32_t> rewrite_announce(std::string& datagram, uint16_t port, std::string_view nat_ticket) {
  auto pk = udp::parse(datagram);
  if (pk.error != udp::ParseError::ok || pk.action != udp::Action::announce) return std::nullopt;
  auto& a = pk.announce;
  a.port = port;
  if (!nat_ticket.empty() && a.url_data.find(kNatParam) == std::string::npos &&
      a.url_data.size() + 1 + kNatParam.size() + nat_ticket.size() <= udp::kMaxUrlData) {
    a.url_data += a.url_data.find('?') == std::string::npos ? '?' : '&';
    a.url_data += kNatParam;
    a.url_data += nat_ticket;
  }
  datagram = udp::build_announce_request(a);
  return a.transaction_id;
}

std::optional<AnnounceReply> read_announce_reply(std::string_view datagram) {
  loadtest::bep15::Reply r;
  std::span<const uint8_t> d(reinterpret_cast<const uint8_t*>(datagram.data()), datagram.size());
  if (loadtest::bep15::parse_reply(d, false, r) != loadtest::bep15::ReplyError::ok || r.action != loadtest::bep15::announce)
    return std::nullopt;
  AnnounceReply out{r.transaction_id, r.interval, r.leechers, r.seeders, {}};
  out.peers.reserve(r.peers);
  for (size_t i = 0; i < r.peers; ++i) {
    const auto* p = d.data() + loadtest::bep15::kAnnounceReplyHeader + i * kPeerV4Size;
    out.peers.push_back(udp::PeerV4{{p[0], p[1], p[2], p[3]}, static_cast<uint16_t>((p[4] << 8) | p[5])});
  }
  return out;
}

std::string build_announce_reply(const AnnounceReply& r) {
  std::string out;
  udp::build_announce_v4(out, r.transaction_id, r.interval, r.leechers, r.seeders, r.peers);
  return out;
}

}  // namespace otaswarm::agent

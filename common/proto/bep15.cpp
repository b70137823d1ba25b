#include "common/proto/bep15.h"

#include <cstring>

namespace otaswarm::udp {

namespace {

uint32_t rd32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
uint64_t rd64(const uint8_t* p) { return (uint64_t{rd32(p)} << 32) | rd32(p + 4); }
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

void wr32(std::string& o, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  o.append(b, 4);
}
void wr64(std::string& o, uint64_t v) {
  wr32(o, static_cast<uint32_t>(v >> 32));
  wr32(o, static_cast<uint32_t>(v));
}
void wr16(std::string& o, uint16_t v) {
  o.push_back(static_cast<char>(v >> 8));
  o.push_back(static_cast<char>(v));
}

enum OptionType : uint8_t { kEndOfOptions = 0, kNop = 1, kUrlData = 2 };

}  // namespace

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::ok: return "ok";
    case ParseError::truncated: return "truncated";
    case ParseError::bad_protocol_id: return "bad protocol id";
    case ParseError::unknown_action: return "unknown action";
    case ParseError::bad_options: return "malformed BEP 41 options";
    case ParseError::too_many_hashes: return "too many info hashes";
  }
  return "unknown";
}

Packet parse(std::string_view d) {
  Packet pk;
  const auto* p = reinterpret_cast<const uint8_t*>(d.data());
  if (d.size() < 16) {
    pk.error = ParseError::truncated;
    return pk;
  }
  uint32_t action = rd32(p + 8);
  pk.transaction_id = rd32(p + 12);
  switch (action) {
    case 0:
      pk.action = Action::connect;
      if (rd64(p) != kProtocolId) pk.error = ParseError::bad_protocol_id;
      pk.connect.transaction_id = pk.transaction_id;
      return pk;
    case 1: {
      pk.action = Action::announce;
      if (d.size() < kAnnounceMinSize) {
        pk.error = ParseError::truncated;
        return pk;
      }
      auto& a = pk.announce;
      a.connection_id = rd64(p);
      a.transaction_id = pk.transaction_id;
      std::memcpy(a.info_hash.data(), p + 16, 20);
      std::memcpy(a.peer_id.data(), p + 36, 20);
      a.downloaded = rd64(p + 56);
      a.left = rd64(p + 64);
      a.uploaded = rd64(p + 72);
      a.event = rd32(p + 80);
      a.ip = rd32(p + 84);
      a.key = rd32(p + 88);
      a.num_want = static_cast<int32_t>(rd32(p + 92));
      a.port = rd16(p + 96);
      size_t i = kAnnounceMinSize;
      while (i < d.size()) {
        uint8_t type = p[i];
        if (type == kEndOfOptions) break;
        if (type == kNop) {
          ++i;
          continue;
        }
        if (i + 1 >= d.size()) {
          pk.error = ParseError::bad_options;
          return pk;
        }
        size_t len = p[i + 1];
        if (i + 2 + len > d.size()) {
          pk.error = ParseError::bad_options;
          return pk;
        }
        if (type == kUrlData) {
          if (a.url_data.size() + len > kMaxUrlData) {
            pk.error = ParseError::bad_options;
            return pk;
          }
          a.url_data.append(d.substr(i + 2, len));
        }
        i += 2 + len;  // unknown option types carry a length: skip them
      }
      return pk;
    }
    case 2: {
      pk.action = Action::scrape;
      auto& s = pk.scrape;
      s.connection_id = rd64(p);
      s.transaction_id = pk.transaction_id;
      size_t n = (d.size() - 16) / 20;
      if (n == 0) {
        pk.error = ParseError::truncated;
        return pk;
      }
      if (n > kMaxScrapeHashes) {
        pk.error = ParseError::too_many_hashes;
        return pk;
      }
      s.info_hashes.resize(n);
      for (size_t k = 0; k < n; ++k) std::memcpy(s.info_hashes[k].data(), p + 16 + 20 * k, 20);
      return pk;
    }
    default:
      pk.error = ParseError::unknown_action;
      return pk;
  }
}

std::string build_connect(uint32_t tid, uint64_t cid) {
  std::string o;
  o.reserve(16);
  wr32(o, 0);
  wr32(o, tid);
  wr64(o, cid);
  return o;
}

void build_announce_header(std::string& o, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders) {
  o.clear();
  wr32(o, 1);
  wr32(o, tid);
  wr32(o, interval);
  wr32(o, leechers);
  wr32(o, seeders);
}

namespace {
template <typename Peer>
void build_announce(std::string& o, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders,
                    const std::vector<Peer>& peers) {
  build_announce_header(o, tid, interval, leechers, seeders);
  o.reserve(20 + (sizeof(Peer{}.ip) + 2) * peers.size());
  for (const auto& pe : peers) {
    o.append(reinterpret_cast<const char*>(pe.ip.data()), pe.ip.size());
    wr16(o, pe.port);
  }
}
}  // namespace

void build_announce_v4(std::string& o, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders,
                       const std::vector<PeerV4>& peers) {
  build_announce(o, tid, interval, leechers, seeders, peers);
}

void build_announce_v6(std::string& o, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders,
                       const std::vector<PeerV6>& peers) {
  build_announce(o, tid, interval, leechers, seeders, peers);
}

std::string build_scrape(uint32_t tid, const std::vector<ScrapeEntry>& entries) {
  std::string o;
  o.reserve(8 + 12 * entries.size());
  wr32(o, 2);
  wr32(o, tid);
  for (const auto& e : entries) {
    wr32(o, e.seeders);
    wr32(o, e.completed);
    wr32(o, e.leechers);
  }
  return o;
}

std::string build_error(uint32_t tid, std::string_view msg) {
  std::string o;
  wr32(o, 3);
  wr32(o, tid);
  o.append(msg);
  return o;
}

}  // namespace otaswarm::udp

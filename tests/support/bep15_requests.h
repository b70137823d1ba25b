#pragma once
// BEP 15 requests as a client sends them, for tests and fuzz targets of the server half: the
// client half of the one codec (common/proto/bep15_client.h), filled from the server half's
// structs. build_announce_request returns "" when the client half refuses (URL data too long).
#include <array>
#include <string>
#include <vector>

#include "common/proto/bep15.h"
#include "common/proto/bep15_client.h"

namespace otaswarm::udp {

namespace client = loadtest::bep15;

inline std::string bytes(const uint8_t* p, size_t n) { return std::string(reinterpret_cast<const char*>(p), n); }

inline std::string build_connect_request(uint32_t tid) {
  std::array<uint8_t, client::kConnectRequestSize> b{};
  return bytes(b.data(), client::build_connect(tid, b));
}

inline std::string build_announce_request(const AnnounceRequest& r) {
  client::AnnounceRequest c;
  c.connection_id = r.connection_id;
  c.transaction_id = r.transaction_id;
  c.info_hash = r.info_hash;
  c.peer_id = r.peer_id;
  c.downloaded = static_cast<int64_t>(r.downloaded);
  c.left = static_cast<int64_t>(r.left);
  c.uploaded = static_cast<int64_t>(r.uploaded);
  c.event = r.event;
  c.ip = r.ip;
  c.key = r.key;
  c.num_want = r.num_want;
  c.port = r.port;
  c.url_data = r.url_data;
  std::array<uint8_t, client::kMaxAnnounceRequest> b{};
  size_t n = client::build_announce(c, b);
  return bytes(b.data(), n);
}

inline std::string build_scrape_request(uint64_t cid, uint32_t tid, const std::vector<Hash20>& hashes) {
  std::array<uint8_t, client::kMaxScrapeRequest> b{};
  if (size_t n = client::build_scrape(cid, tid, hashes, b)) return bytes(b.data(), n);
  // More hashes than the client half builds: assemble it by hand, as a hostile client would.
  std::string o;
  for (int i = 7; i >= 0; --i) o.push_back(static_cast<char>(cid >> (8 * i)));
  for (uint32_t v : {uint32_t{2}, tid})
    for (int i = 3; i >= 0; --i) o.push_back(static_cast<char>(v >> (8 * i)));
  for (const auto& h : hashes) o.append(reinterpret_cast<const char*>(h.data()), h.size());
  return o;
}

}  // namespace otaswarm::udp

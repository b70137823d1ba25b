#pragma once
// BEP 15 UDP tracker protocol (+ BEP 41 URL data): request reader and reply builders.
// Readers never trust lengths from the wire and report a typed error.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace otaswarm::udp {

inline constexpr uint64_t kProtocolId = 0x41727101980ULL;
inline constexpr size_t kConnectSize = 16;
inline constexpr size_t kAnnounceMinSize = 98;
inline constexpr size_t kScrapeMinSize = 16;
inline constexpr size_t kMaxScrapeHashes = 74;  // BEP 15: fits a 1500-byte reply
inline constexpr size_t kMaxUrlData = 1024;     // BEP 41 URL data we accept in total

enum class Action : uint32_t { connect = 0, announce = 1, scrape = 2, error = 3 };

enum class ParseError {
  ok = 0,
  truncated,        // shorter than the fixed header of its action
  bad_protocol_id,  // connect without the magic constant
  unknown_action,
  bad_options,      // BEP 41 option list runs past the end
  too_many_hashes,
};
const char* to_string(ParseError e);

using Hash20 = std::array<uint8_t, 20>;

struct ConnectRequest {
  uint32_t transaction_id = 0;
};

struct AnnounceRequest {
  uint64_t connection_id = 0;
  uint32_t transaction_id = 0;
  Hash20 info_hash{};
  Hash20 peer_id{};
  uint64_t downloaded = 0, left = 0, uploaded = 0;
  uint32_t event = 0;  // 0 none, 1 completed, 2 started, 3 stopped
  uint32_t ip = 0;     // network order value as read (0 = use source)
  uint32_t key = 0;
  int32_t num_want = -1;
  uint16_t port = 0;
  std::string url_data;  // BEP 41: concatenated URLData options, e.g. "/announce/<token>?lan=..."
};

struct ScrapeRequest {
  uint64_t connection_id = 0;
  uint32_t transaction_id = 0;
  std::vector<Hash20> info_hashes;
};

struct Packet {
  Action action = Action::connect;
  ParseError error = ParseError::ok;
  uint32_t transaction_id = 0;  // valid whenever at least 16 bytes were present
  ConnectRequest connect;
  AnnounceRequest announce;
  ScrapeRequest scrape;
};

Packet parse(std::string_view datagram);

struct PeerV4 {
  std::array<uint8_t, 4> ip;
  uint16_t port;
};
struct PeerV6 {
  std::array<uint8_t, 16> ip;
  uint16_t port;
};
struct ScrapeEntry {
  uint32_t seeders = 0, completed = 0, leechers = 0;
};

std::string build_connect(uint32_t transaction_id, uint64_t connection_id);
void build_announce_v4(std::string& out, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders,
                       const std::vector<PeerV4>& peers);
void build_announce_v6(std::string& out, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders,
                       const std::vector<PeerV6>& peers);
// Announce reply header; the caller appends 6-byte (IPv4) or 18-byte (IPv6) peer entries.
void build_announce_header(std::string& out, uint32_t tid, uint32_t interval, uint32_t leechers, uint32_t seeders);
std::string build_scrape(uint32_t tid, const std::vector<ScrapeEntry>& entries);
std::string build_error(uint32_t tid, std::string_view message);

// The client half (request builders, reply reader) is common/proto/bep15_client.h.

}  // namespace otaswarm::udp

#pragma once
// Client side of BEP 15 (UDP tracker): request builders and a reply reader that rejects
// malformed datagrams with a typed error. BEP 41 URL data carries the announce path.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/bep15.h"

namespace otaswarm::loadtest::bep15 {

using udp::kProtocolId;  // written once, in the server half
inline constexpr size_t kConnectRequestSize = 16;
inline constexpr size_t kConnectReplySize = 16;
inline constexpr size_t kAnnounceRequestSize = 98;
inline constexpr size_t kAnnounceReplyHeader = 20;
inline constexpr size_t kErrorReplyHeader = 8;
inline constexpr size_t kScrapeRequestHeader = 16;
inline constexpr size_t kScrapeReplyHeader = 8;
inline constexpr size_t kScrapeEntrySize = 12;
using udp::kMaxScrapeHashes;
inline constexpr size_t kMaxScrapeRequest = kScrapeRequestHeader + kMaxScrapeHashes * 20;
inline constexpr size_t kUrlDataChunk = 255;  // one BEP 41 option carries at most 255 bytes
using udp::kMaxUrlData;  // what the server half accepts is what we send at most
inline constexpr size_t kMaxAnnounceRequest = kAnnounceRequestSize + kMaxUrlData + (kMaxUrlData / kUrlDataChunk + 2) * 2;

enum Action : uint32_t { connect = 0, announce = 1, scrape = 2, error = 3 };
enum Event : uint32_t { none = 0, completed = 1, started = 2, stopped = 3 };
enum OptionType : uint8_t { end_of_options = 0, nop = 1, url_data = 2 };

struct AnnounceRequest {
  uint64_t connection_id = 0;
  uint32_t transaction_id = 0;
  std::array<uint8_t, 20> info_hash{};
  std::array<uint8_t, 20> peer_id{};
  int64_t downloaded = 0, left = 0, uploaded = 0;
  uint32_t event = none;
  uint32_t ip = 0;  // network order; 0 = the source address (what a client not behind a proxy sends)
  uint32_t key = 0;
  int32_t num_want = -1;
  uint16_t port = 0;
  std::string_view url_data;  // "/announce/<token>" (path and query); empty: no options
};

// Builders write into `out` and return the datagram length (0: url_data over kMaxUrlData).
size_t build_connect(uint32_t transaction_id, std::span<uint8_t, kConnectRequestSize> out);
size_t build_announce(const AnnounceRequest& r, std::span<uint8_t, kMaxAnnounceRequest> out);
// 0: more than kMaxScrapeHashes hashes.
size_t build_scrape(uint64_t connection_id, uint32_t transaction_id, std::span<const std::array<uint8_t, 20>> hashes,
                    std::span<uint8_t, kMaxScrapeRequest> out);

enum class ReplyError { ok, truncated, bad_length, unknown_action };
const char* to_string(ReplyError e);

struct Reply {
  uint32_t action = 0;
  uint32_t transaction_id = 0;
  uint64_t connection_id = 0;                // connect
  uint32_t interval = 0, leechers = 0, seeders = 0;  // announce
  size_t peers = 0;
  struct ScrapeCounts {
    uint32_t seeders = 0, completed = 0, leechers = 0;
  };
  std::vector<ScrapeCounts> files;  // scrape, in request order
  std::string message;  // error
};

// `ipv6` selects 18-byte peer entries (BEP 15 announce over IPv6).
ReplyError parse_reply(std::span<const uint8_t> datagram, bool ipv6, Reply& out);

}  // namespace otaswarm::loadtest::bep15

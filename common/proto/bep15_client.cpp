#include "common/proto/bep15_client.h"

#include <algorithm>
#include <cstring>

namespace otaswarm::loadtest::bep15 {
namespace {

inline constexpr size_t kPeerV4 = 6;
inline constexpr size_t kPeerV6 = 18;
inline constexpr size_t kMaxErrorMessage = 1024;

uint8_t* put32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (i * 8));
  return p;
}
uint8_t* put64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) *p++ = static_cast<uint8_t>(v >> (i * 8));
  return p;
}
uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint64_t get64(const uint8_t* p) { return uint64_t{get32(p)} << 32 | get32(p + 4); }

}  // namespace

size_t build_connect(uint32_t transaction_id, std::span<uint8_t, kConnectRequestSize> out) {
  uint8_t* p = put64(out.data(), kProtocolId);
  p = put32(p, connect);
  put32(p, transaction_id);
  return kConnectRequestSize;
}

size_t build_announce(const AnnounceRequest& r, std::span<uint8_t, kMaxAnnounceRequest> out) {
  if (r.url_data.size() > kMaxUrlData) return 0;
  uint8_t* p = put64(out.data(), r.connection_id);
  p = put32(p, announce);
  p = put32(p, r.transaction_id);
  p = std::copy(r.info_hash.begin(), r.info_hash.end(), p);
  p = std::copy(r.peer_id.begin(), r.peer_id.end(), p);
  p = put64(p, static_cast<uint64_t>(r.downloaded));
  p = put64(p, static_cast<uint64_t>(r.left));
  p = put64(p, static_cast<uint64_t>(r.uploaded));
  p = put32(p, r.event);
  p = put32(p, r.ip);
  p = put32(p, r.key);
  p = put32(p, static_cast<uint32_t>(r.num_want));
  *p++ = static_cast<uint8_t>(r.port >> 8);
  *p++ = static_cast<uint8_t>(r.port);
  if (!r.url_data.empty()) {
    for (size_t off = 0; off < r.url_data.size(); off += kUrlDataChunk) {
      size_t n = std::min(kUrlDataChunk, r.url_data.size() - off);
      *p++ = url_data;
      *p++ = static_cast<uint8_t>(n);
      p = std::copy_n(reinterpret_cast<const uint8_t*>(r.url_data.data()) + off, n, p);
    }
    *p++ = end_of_options;
  }
  return static_cast<size_t>(p - out.data());
}

const char* to_string(ReplyError e) {
  switch (e) {
    case ReplyError::ok: return "ok";
    case ReplyError::truncated: return "truncated";
    case ReplyError::bad_length: return "bad_length";
    case ReplyError::unknown_action: return "unknown_action";
  }
  return "?";
}

size_t build_scrape(uint64_t connection_id, uint32_t transaction_id, std::span<const std::array<uint8_t, 20>> hashes,
                    std::span<uint8_t, kMaxScrapeRequest> out) {
  if (hashes.size() > kMaxScrapeHashes) return 0;
  uint8_t* p = put64(out.data(), connection_id);
  p = put32(p, scrape);
  p = put32(p, transaction_id);
  for (const auto& h : hashes) p = std::copy(h.begin(), h.end(), p);
  return static_cast<size_t>(p - out.data());
}

ReplyError parse_reply(std::span<const uint8_t> d, bool ipv6, Reply& out) {
  if (d.size() < kErrorReplyHeader) return ReplyError::truncated;
  out.action = get32(d.data());
  out.transaction_id = get32(d.data() + 4);
  switch (out.action) {
    case connect:
      if (d.size() < kConnectReplySize) return ReplyError::truncated;
      out.connection_id = get64(d.data() + 8);
      return ReplyError::ok;
    case announce: {
      if (d.size() < kAnnounceReplyHeader) return ReplyError::truncated;
      out.interval = get32(d.data() + 8);
      out.leechers = get32(d.data() + 12);
      out.seeders = get32(d.data() + 16);
      size_t entry = ipv6 ? kPeerV6 : kPeerV4;
      size_t body = d.size() - kAnnounceReplyHeader;
      if (body % entry != 0) return ReplyError::bad_length;
      out.peers = body / entry;
      return ReplyError::ok;
    }
    case scrape: {
      size_t body = d.size() - kScrapeReplyHeader;
      if (body % kScrapeEntrySize != 0) return ReplyError::bad_length;
      out.files.clear();
      for (size_t off = kScrapeReplyHeader; off < d.size(); off += kScrapeEntrySize)
        out.files.push_back({get32(d.data() + off), get32(d.data() + off + 4), get32(d.data() + off + 8)});
      return ReplyError::ok;
    }
    case error: {
      size_t n = std::min(d.size() - kErrorReplyHeader, kMaxErrorMessage);
      out.message.assign(reinterpret_cast<const char*>(d.data() + kErrorReplyHeader), n);
      return ReplyError::ok;
    }
    default:
      return ReplyError::unknown_action;
  }
}

}  // namespace otaswarm::loadtest::bep15

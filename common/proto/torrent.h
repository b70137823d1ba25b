#pragma once
// The one .torrent reader (BitTorrent v1 metainfo): the tracker's release registry, the CLI's
// `release add` and the load generator's --torrent all read through it, with one size limit.
// It checks structure only; whether a torrent must be private is the caller's rule.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"

namespace otaswarm::torrent {

// The tracker's admin API takes torrents up to this size (--admin-body-limit's default and
// maximum); an OTA image of a few GiB in 16 KiB..16 MiB pieces needs far less.
inline constexpr size_t kMaxTorrentBytes = 16u << 20;

enum class Error {
  none,
  too_large,             // over kMaxTorrentBytes
  not_bencoded,          // not one valid bencoded value
  no_info,               // no info dictionary
  no_name,               // info.name missing or empty
  bad_piece_layout,      // piece length / pieces missing or malformed
  bad_file_length,       // an info.files entry without a valid length
  length_overflow,       // the files' lengths do not fit in 64 bits
  no_length,             // neither info.length nor info.files
  piece_count_mismatch,  // pieces do not cover the length exactly
};

struct Metainfo {
  crypto::Sha1 info_hash{};  // SHA-1 of the raw info bytes, whatever their key order
  std::string name;
  uint64_t length = 0;
  uint64_t piece_length = 0;
  uint32_t pieces = 0;
  bool is_private = false;  // info.private is the integer 1
  std::vector<std::string> webseeds;  // url-list
  std::vector<std::string> trackers;  // announce, then announce-list (deduplicated)
};

struct Parsed {
  std::optional<Metainfo> metainfo;
  Error error = Error::none;
  std::string message;  // says what is wrong, for a reply or stderr
  explicit operator bool() const { return metainfo.has_value(); }
};

Parsed parse(std::string_view bytes);

}  // namespace otaswarm::torrent

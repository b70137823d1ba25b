// .torrent reader (admin API, CLI and load generator input): never crashes; a refusal names
// its reason; an accepted torrent has a name and a piece layout consistent with its length.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proto/torrent.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = otaswarm::torrent::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!p) {
    if (p.error == otaswarm::torrent::Error::none || p.message.empty()) std::abort();
    return 0;
  }
  const auto& m = *p.metainfo;
  if (p.error != otaswarm::torrent::Error::none || m.name.empty() || m.piece_length == 0 ||
      size > otaswarm::torrent::kMaxTorrentBytes)
    std::abort();
  uint64_t pieces = m.length == 0 ? 0 : (m.length - 1) / m.piece_length + 1;
  if (pieces != m.pieces) std::abort();
  return 0;
}

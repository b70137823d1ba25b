// .torrent validation (admin API input): never crashes; an accepted torrent is private,
// has a name and a piece layout consistent with its length.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tracker/release_registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = otaswarm::parse_torrent(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!p.release) {
    if (p.error.empty()) std::abort();
    return 0;
  }
  const auto& r = *p.release;
  if (r.name.empty() || r.piece_length == 0 || r.torrent.size() != size) std::abort();
  uint64_t pieces = r.length == 0 ? 0 : (r.length - 1) / r.piece_length + 1;
  if (pieces != r.pieces) std::abort();
  return 0;
}

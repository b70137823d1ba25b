// BEP 15 / BEP 41 reader: never crashes or over-reads; an accepted announce or scrape
// survives a rebuild with the client half of the codec unchanged (the two halves agree).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proto/bep15.h"
#include "tests/support/bep15_requests.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm::udp;
  auto pk = parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (pk.error != ParseError::ok) return 0;
  if (pk.action == Action::announce) {
    const auto& a = pk.announce;
    if (a.url_data.size() > kMaxUrlData) std::abort();
    auto again = parse(build_announce_request(a));
    const auto& b = again.announce;
    if (again.error != ParseError::ok || again.action != Action::announce || b.connection_id != a.connection_id ||
        b.transaction_id != a.transaction_id || b.info_hash != a.info_hash || b.peer_id != a.peer_id ||
        b.downloaded != a.downloaded || b.left != a.left || b.uploaded != a.uploaded || b.event != a.event ||
        b.ip != a.ip || b.key != a.key || b.num_want != a.num_want || b.port != a.port || b.url_data != a.url_data)
      std::abort();
  } else if (pk.action == Action::scrape) {
    const auto& s = pk.scrape;
    if (s.info_hashes.empty() || s.info_hashes.size() > kMaxScrapeHashes) std::abort();
    auto again = parse(build_scrape_request(s.connection_id, s.transaction_id, s.info_hashes));
    if (again.error != ParseError::ok || again.scrape.info_hashes != s.info_hashes) std::abort();
  } else if (pk.action == Action::connect) {
    auto again = parse(build_connect_request(pk.transaction_id));
    if (again.error != ParseError::ok || again.transaction_id != pk.transaction_id) std::abort();
  }
  return 0;
}

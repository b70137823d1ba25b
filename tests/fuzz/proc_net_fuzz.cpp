// The agent's readers of device files: /proc/net/route (default gateway) and the neighbour table
// (/proc/net/arp or `ip neigh`). Parsing never crashes; what it returns is well-formed.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/announce_url.h"
#include "agent/lan_hint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto route = parse_default_route(in);
  if (route) {
    if (route->interface.empty() || route->gateway.empty() || route->gateway.size() > 15) std::abort();
    if (derive_lan_hint("salt", *route, std::nullopt).size() != kLanHintHexChars) std::abort();
  }
  std::string gateway = route ? route->gateway : "0.0.0.0";
  for (std::string_view ip : {std::string_view("192.168.1.1"), std::string_view("10.0.0.1"), std::string_view(gateway)}) {
    if (auto mac = parse_neighbour_mac(in, ip); mac && mac->size() != 17) std::abort();
  }
  std::string url = announce_url(in, in, {std::string(in), std::string(in)});
  if (url.find('?') != std::string::npos && url.size() < in.size()) std::abort();
  return 0;
}

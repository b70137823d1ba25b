#pragma once
// Locality of an announcing peer: LAN (same NAT + LAN hint), ISP, region.
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/store.h"

namespace otaswarm {

class LocalityResolver {
 public:
  virtual ~LocalityResolver() = default;
  // public_ip: the address the tracker sees; lan_hint / icode: announce parameters (may be empty).
  virtual store::Locality resolve(const net::Address& public_ip, std::string_view lan_hint,
                                  std::string_view icode) const = 0;
};

// LAN grouping only: peers behind one public address share a LAN key when their LAN hints
// match (or, with require_hint off, by public address alone).
class BasicLocality : public LocalityResolver {
 public:
  explicit BasicLocality(bool require_lan_hint = true) : require_hint_(require_lan_hint) {}
  store::Locality resolve(const net::Address& public_ip, std::string_view lan_hint,
                          std::string_view icode) const override;

 protected:
  uint64_t lan_key(const net::Address& public_ip, std::string_view lan_hint) const;
  bool require_hint_;
};

}  // namespace otaswarm

#pragma once
// Locality of an announcing peer: LAN (same NAT + LAN hint), ISP, region.
// Sources, highest precedence first: a signed `icode`, the operator's ALTO network map
// (--locality-map), a MaxMind-format ASN/GeoIP database (--locality-mmdb). Both files
// reload on SIGHUP; a reload that fails keeps the previous data.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tracker/alto.h"
#include "common/clock.h"
#include "common/net.h"
#include "tracker/store/swarm_store.h"
#include "common/proto/token.h"

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

// Stable 32-bit ids for ISP and region names (0 is reserved for "unknown").
uint32_t locality_id(std::string_view kind, std::string_view name);

class Mmdb;  // libmaxminddb handle

struct LocalityInfo {
  std::string isp;     // e.g. "AS64501", an ALTO PID's ISP part, or an icode's ISP
  std::string region;  // e.g. "eu-west", a country code, or empty
  std::string source;  // icode | alto | mmdb | none
};

struct LocalityOptions {
  std::string mmdb_path;
  std::string map_path;
  token::KeyRing icode_keys;
  bool require_lan_hint = true;
  const Clock* clock = &SystemClock::instance();
};

class LocalityService final : public BasicLocality {
 public:
  // Loads the files; throws config::ConfigError naming locality-mmdb / locality-map on failure.
  explicit LocalityService(LocalityOptions opts);
  ~LocalityService() override;

  store::Locality resolve(const net::Address& public_ip, std::string_view lan_hint,
                          std::string_view icode) const override;
  LocalityInfo describe(const net::Address& public_ip, std::string_view icode) const;
  // Re-reads both files; on error keeps the old data and returns false with the reason.
  bool reload(std::string& error);
  size_t reloads() const { return reloads_.load(); }

 private:
  struct State {
    std::optional<alto::NetworkMap> map;
    std::shared_ptr<Mmdb> mmdb;
  };
  std::shared_ptr<const State> load(std::string& error, std::string& key) const;

  LocalityOptions opts_;
  std::atomic<std::shared_ptr<const State>> state_;
  std::mutex reload_mu_;
  std::atomic<size_t> reloads_{0};
};

}  // namespace otaswarm

#pragma once
// The engine's Directory backed by the real otaswarm-tracker: one started tracker per run, the
// release registered through the admin API, each phone announcing over BEP 15 from its NAT's
// loopback address with its device token, LAN address/hint and NAT ticket as the policy says.
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "loadtest/swarm/engine.h"
#include "loadtest/swarm/tracker_client.h"

namespace otaswarm::sim {

// The tracker flags a policy runs with (everything else at the tracker's defaults); the
// tracker's selection RNG is seeded from the scenario seed, so a run is a function of it.
std::vector<std::string> tracker_flags(const Policy& pol, const Calibration& cal, uint64_t seed);
// RFC 7285 network map: ISP i owns 127.<i+1>.0.0/16, PID "<isp>.<region>".
std::string alto_map(const Scenario& s);
// A private single-file v1 torrent with fake piece hashes and the S3 web seed; sets info_hash.
std::string make_torrent(const Scenario& s, const std::string& announce_url, std::array<uint8_t, 20>& info_hash);

class TrackerDirectory : public Directory {
 public:
  TrackerDirectory(const Scenario& s, const Policy& pol, const Calibration& cal, const Population& pop,
                   std::string tracker_binary, uint64_t seed);
  Reply announce(const Phone& p, Event e, uint64_t downloaded, uint64_t uploaded, uint64_t left) override;
  void stop() { tracker_.stop(); }

 private:
  const Policy& pol_;
  const Calibration& cal_;
  TrackerProcess tracker_;
  UdpAnnouncer udp_;
  std::array<uint8_t, 20> info_hash_{};
  std::vector<std::string> url_data_;
  std::vector<std::chrono::steady_clock::time_point> last_wall_;
};

}  // namespace otaswarm::sim

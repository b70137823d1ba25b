#pragma once
// The real otaswarm-tracker as the simulator uses it: a child process on 127.0.0.1 port 0
// with a temp data dir, its admin API (release registration), and BEP 15 + BEP 41 announces
// sent from a chosen loopback source address (the phone's simulated public address).
#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/proto/bep15.h"

namespace otaswarm::sim {

struct TrackerOptions {
  std::string binary;                 // path of otaswarm-tracker
  std::vector<std::string> flags;     // policy flags (--peer-selection, --reachability, ...)
  std::string locality_map_json;      // ALTO network map, empty: none
};

class TrackerProcess {
 public:
  // Starts the tracker and waits for its ready line; throws std::runtime_error on failure.
  explicit TrackerProcess(const TrackerOptions& opts);
  ~TrackerProcess();
  TrackerProcess(const TrackerProcess&) = delete;
  TrackerProcess& operator=(const TrackerProcess&) = delete;

  const std::string& token_key() const { return token_key_; }
  const std::string& udp_host() const { return udp_host_; }
  uint16_t udp_port() const { return udp_port_; }
  // POST /api/v1/releases with the .torrent; throws unless the tracker answers 201.
  void register_release(const std::string& torrent);
  // PUT /api/v1/releases/<ih>/origin-policy; throws unless the tracker answers 200.
  void set_origin_policy(const std::string& info_hash_hex, const std::string& json);
  // SIGTERM by PID and wait; idempotent.
  void stop();

 private:
  std::string dir_, token_key_, admin_token_;
  std::string udp_host_, admin_host_;
  uint16_t udp_port_ = 0, admin_port_ = 0;
  pid_t pid_ = -1;
};

// Path of otaswarm-tracker next to this executable (/proc/self/exe's directory).
std::string sibling_tracker_binary();

struct AnnounceParams {
  std::array<uint8_t, 20> info_hash{};
  std::array<uint8_t, 20> peer_id{};
  uint64_t downloaded = 0, left = 0, uploaded = 0;
  uint32_t event = 0;  // BEP 15: 0 none, 1 completed, 2 started, 3 stopped
  int32_t numwant = -1;
  uint16_t port = 0;
  std::string url_data;  // "/announce/<token>?localip=…&lan=…&nat=…[&origin=1]"
  bool origin = false;   // url_data asks for origin advice: read the reply's trailer
};

struct AnnouncePeer {
  uint32_t ip = 0;  // host byte order
  uint16_t port = 0;
};

struct AnnounceResult {
  bool ok = false;
  std::string error;
  uint32_t interval = 0;
  std::vector<AnnouncePeer> peers;
  bool has_origin = false;  // the tracker's origin advice (BEP 15 trailer, docs/origin-pacing.md)
  udp::OriginTrailer origin;
};

// Blocking BEP 15 client; one short-lived socket per exchange, bound to the source address, so
// thousands of simulated NATs need no open descriptors. Connection IDs are cached per source.
class UdpAnnouncer {
 public:
  UdpAnnouncer(std::string tracker_host, uint16_t tracker_port);
  AnnounceResult announce(const std::string& source_ip, const AnnounceParams& p);
  uint64_t exchanges() const { return exchanges_; }

 private:
  struct CachedId {
    uint64_t id = 0;
    std::chrono::steady_clock::time_point at;
  };
  bool exchange(int fd, const uint8_t* req, size_t len, uint32_t tid, std::vector<uint8_t>& reply);
  std::string host_;
  uint16_t port_;
  std::map<std::string, CachedId> ids_;
  uint32_t next_tid_ = 1;
  uint64_t exchanges_ = 0;
};

uint32_t parse_ipv4(const std::string& dotted);
std::string format_ipv4(uint32_t ip);

}  // namespace otaswarm::sim

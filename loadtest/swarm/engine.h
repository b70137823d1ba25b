#pragma once
// Flow-level, fixed-step simulation of one release: phones join, announce to a directory (the
// real tracker in production runs), connect as their NATs and the policy allow, exchange 256 KiB
// pieces rarest first with tit-for-tat unchoking, and fetch what they miss from the S3 web seed.
#include <cstdint>
#include <string>
#include <vector>

#include "loadtest/swarm/model.h"
#include "loadtest/swarm/tracker_client.h"

namespace otaswarm::sim {

enum class Event : uint32_t { none = 0, completed = 1, started = 2, stopped = 3 };  // BEP 15 codes

// Where phones get peer lists from. The production implementation is the real tracker over UDP.
class Directory {
 public:
  virtual ~Directory() = default;
  struct Reply {
    bool ok = false;
    uint32_t interval = 0;
    std::vector<AnnouncePeer> peers;
    std::string error;
    // Origin advice (only when the policy paces the origin and the tracker answered with it).
    bool has_origin = false, grant = false;
    double rate = 0;  // bytes/s while granted, 0 = no cap
    uint32_t recheck_s = 0, starvation_delay_s = 0;
    double starvation_floor = 0;  // bytes/s
  };
  virtual Reply announce(const Phone& p, Event e, uint64_t downloaded, uint64_t uploaded, uint64_t left) = 0;
};

enum class ConnType : uint8_t { lan, direct, punched, unassisted, relayed };
inline constexpr size_t kConnTypes = 5;
const char* to_string(ConnType t);

struct Result {
  std::string scenario, policy;
  uint64_t seed = 0;
  uint32_t phones = 0, completed = 0, pieces = 0;
  uint64_t file_bytes = 0, piece_bytes = 0;
  uint64_t client_server_bytes = 0, s3_bytes = 0, peer_bytes = 0, cross_isp_bytes = 0;
  uint64_t bytes_by_type[kConnTypes]{};  // peer bytes by connection type (lan, direct, punched, unassisted, relayed)
  uint64_t relay_capacity = 0;       // concurrent relay sessions the release may hold (RelayBudget)
  uint64_t relay_sessions_peak = 0;  // most sessions held at once
  uint64_t relay_session_bytes_per_s = 0;
  double saving_pct = 0, net_saving_pct = 0;  // net: relayed bytes count as egress too
  double completion_p50_s = 0, completion_p95_s = 0, completion_max_s = 0, sim_end_s = 0;
  uint64_t connections_by_type[kConnTypes]{};
  uint64_t seed_pairs_closed = 0;  // connections dropped because both ends had become seeds
  uint64_t punch_attempts = 0, punch_successes = 0, relay_refused = 0, hairpin_failures = 0, unreachable_pairs = 0;
  uint64_t announces = 0, announce_errors = 0, peers_handed_out = 0;
  // Origin pacing: phone-seconds with the web seed on, by why (tracker grant, own starvation valve).
  double origin_granted_s = 0, origin_starved_s = 0;
  uint64_t origin_grants_seen = 0;  // announces answered with a grant
  std::string origin_policy;        // "greedy" or "paced"
  std::string lan_pairing;
  std::string first_announce_error;
};

struct SimOptions {
  Scenario scenario;
  Policy policy;
  Calibration cal;
  uint64_t seed = 1;
};

// Runs to the completion of every phone. `dir` may be null only for client-server.
Result simulate(const SimOptions& opts, const Population& pop, Directory* dir);

}  // namespace otaswarm::sim

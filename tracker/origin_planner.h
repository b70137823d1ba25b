#pragma once
// Origin pacing (docs/origin-pacing.md): per release, who may fetch from the origin (the S3 web
// seed) now. A small bounded set of "origin grants" seeds the swarm from S3; everyone else
// gets peers first; a starved device (no peers, or too little progress for longer than the
// starvation delay) always gets a grant, so a download never waits on peers beyond that bound.
// No sockets; time comes from the injected clock. Each replica plans from what it sees (its
// own announces), so with several replicas the grant count is per replica: more origin, never none.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/rate_limit.h"
#include "tracker/store/memory_store.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

enum class OriginMode : uint8_t { greedy = 0, paced = 1 };
const char* to_string(OriginMode m);
std::optional<OriginMode> parse_origin_mode(std::string_view s);

// Defaults of the paced policy. The floor is what a phone should at least get from peers
// before it tops up from the origin: ~95 % of one web-seed connection (64 KiB per 50 ms RTT,
// 10.5 Mbit/s), so pacing keeps completion within 10 % of S3 alone.
inline constexpr uint64_t kDefaultStarvationFloor = 1'250'000;  // bytes/s
inline constexpr uint32_t kDefaultStarvationDelayS = 3;
inline constexpr uint32_t kDefaultRecheckS = 15;
// The paced grants together fetch about half of one web-seed connection: enough to bring new
// pieces into a young swarm; the valve tops up whoever gets too little from peers.
inline constexpr uint64_t kDefaultOriginBytesPerSecond = 650'000;
inline constexpr uint32_t kLeechersPerGrant = 20;  // auto grant count: one grant per this many leechers
inline constexpr uint32_t kMaxGrants = 10'000;
inline constexpr uint32_t kMaxRecheckS = 3600;
inline constexpr uint32_t kMaxStarvationDelayS = 3600;

struct OriginPolicy {
  OriginMode mode = OriginMode::paced;
  uint32_t grants = 0;                    // concurrent paced grants; 0 = auto (one per kLeechersPerGrant leechers)
  uint64_t origin_bytes_per_second = kDefaultOriginBytesPerSecond;  // shared by the paced grants; 0 = each at full speed
  uint64_t starvation_floor = kDefaultStarvationFloor;  // bytes/s of progress below which a device starves
  uint32_t starvation_delay_s = kDefaultStarvationDelayS;
  uint32_t recheck_s = kDefaultRecheckS;  // a device without a grant re-announces this often
  bool operator==(const OriginPolicy&) const = default;
};

// JSON object ↔ policy. `parse` starts from `base` (a partial PUT changes only what it names)
// and returns an error message on unknown keys, wrong types or values out of range.
std::string origin_policy_json(const OriginPolicy& p);
std::optional<std::string> parse_origin_policy(std::string_view json, OriginPolicy& inout);

enum class GrantReason : uint8_t { none = 0, greedy, paced, starved, denied };
const char* to_string(GrantReason r);

// The advice for one device, as it goes on the wire (HTTP dict, UDP trailer).
struct OriginAdvice {
  bool grant = false;
  uint64_t rate = 0;  // bytes/s cap while granted; 0 = no cap
  uint32_t recheck_s = 0;
  uint64_t starvation_floor = 0;
  uint32_t starvation_delay_s = 0;
  GrantReason reason = GrantReason::none;
  bool operator==(const OriginAdvice& o) const {
    return grant == o.grant && rate == o.rate && recheck_s == o.recheck_s && starvation_floor == o.starvation_floor &&
           starvation_delay_s == o.starvation_delay_s;
  }
};

// What one announce tells the planner.
struct OriginObservation {
  std::string_view device;
  store::Event event = store::Event::none;
  uint64_t left = 0;
  uint32_t seeders = 0, leechers = 0;  // the swarm after this announce
  size_t peers = 0;                    // peers handed out in this reply
  store::Reach reach = store::Reach::unknown;
  uint64_t lan = 0;  // LAN key (0: none); one paced grant per LAN is enough, siblings share over it
};

struct OriginStats {
  uint64_t outstanding = 0;  // grants held now (paced + starved)
  uint64_t given_paced = 0, given_starved = 0, denied = 0;
};

struct OriginPlannerLimits {
  // A device may acquire a grant this often (one token bucket per device and release), so one
  // that lies about its progress cannot cycle through grants.
  RateLimit grants_per_device{1.0 / 30.0, 4};
  size_t max_devices_per_release = 200'000;  // beyond this, devices get a grant untracked (fail open)
  size_t max_rate_keys = 1 << 20;
  uint32_t lease_rechecks = 4;  // a holder silent for this many recheck periods loses its grant
};

class OriginPlanner {
 public:
  explicit OriginPlanner(const Clock& clock, OriginPlannerLimits limits = {});
  // Decides for the announcing device; thread-safe (one lock per release).
  OriginAdvice advise(const store::InfoHash& h, const OriginPolicy& policy, const OriginObservation& obs);
  OriginStats stats(const store::InfoHash& h) const;
  void forget(const store::InfoHash& h);
  // Grant count the policy allows for `leechers` (auto = one per kLeechersPerGrant, at least 1).
  static uint32_t grant_budget(const OriginPolicy& p, uint32_t leechers);

 private:
  struct Device {
    bool granted = false;
    GrantReason reason = GrantReason::none;
    int64_t seen_ms = 0;
    uint64_t last_left = 0;
    uint32_t slow_announces = 0;  // consecutive re-announces with progress below the floor
    uint64_t lan = 0;
    bool seen = false;
  };
  struct Swarm {
    mutable std::mutex mu;
    std::unordered_map<std::string, Device> devices;
    uint32_t paced_held = 0, starved_held = 0;
    OriginStats st;
    int64_t last_sweep_ms = 0;
  };
  Swarm& swarm(const store::InfoHash& h);
  void release(Swarm& s, Device& d);
  // Records this announce's progress on `d`; true when the device counts as starved now.
  static bool observe_progress(Device& d, const OriginPolicy& pol, const OriginObservation& obs, int64_t now);
  void sweep(Swarm& s, int64_t now, int64_t lease_ms);

  const Clock& clock_;
  OriginPlannerLimits limits_;
  RateLimiter grant_limiter_;
  mutable std::shared_mutex mu_;
  std::unordered_map<store::InfoHash, std::unique_ptr<Swarm>, store::InfoHashHasher> swarms_;
};

}  // namespace otaswarm

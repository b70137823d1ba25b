#pragma once
// Swarm store: where peers live. The tracker's handlers are pure functions of
// (request, store); replicas keep no swarm state of their own. Implementations:
// MemoryStore (embedded default, also the fake in tests) and, later, Redis.
// Every operation completes through a callback so network-backed stores never block
// an I/O thread; the memory store calls back before returning.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace otaswarm::store {

using InfoHash = std::array<uint8_t, 20>;
using PeerId = std::array<uint8_t, 20>;

// An IP address as 16 bytes; IPv4 in the first 4 bytes with v6 == false.
struct Ip {
  std::array<uint8_t, 16> b{};
  bool v6 = false;
  bool operator==(const Ip& o) const { return v6 == o.v6 && b == o.b; }
};

enum class Event : uint8_t { none = 0, completed = 1, started = 2, stopped = 3, paused = 4 };

// Same numbering as nat::Reach (common/proto/nat.h).
enum class Reach : uint8_t { unknown = 0, connectable = 1, punchable = 2, hard = 3 };
inline constexpr size_t kReachCount = 4;

// Coarse NAT class for the per-release mix.
enum class NatBucket : uint8_t { unknown = 0, public_address = 1, eim = 2, apdm = 3 };
inline constexpr size_t kNatBucketCount = 4;
const char* to_string(NatBucket b);

enum class Tier : uint8_t { lan = 0, isp = 1, region = 2, other = 3 };
inline constexpr size_t kTierCount = 4;
const char* to_string(Tier t);

// How the requester can reach a handed-out peer.
enum class Pairing : uint8_t { direct = 0, punch = 1, relay = 2, unknown = 3 };
inline constexpr size_t kPairingCount = 4;
const char* to_string(Pairing p);
Pairing pairing(Reach requester, Reach peer);
// Whether a peer of reach `peer` is worth handing to a requester of reach `requester`
// (direct or punchable; relay-only pairs are left to the rendezvous).
bool reachable(Reach requester, Reach peer);

struct Locality {
  uint64_t lan = 0;     // hash of (public IP, LAN hint); 0 = no LAN pairing possible
  uint32_t isp = 0;     // ISP / AS / ALTO PID id; 0 = unknown
  uint32_t region = 0;  // 0 = unknown
};

struct PeerData {
  std::string device;  // identity inside a swarm: the device id from the token
  PeerId peer_id{};
  Ip ip;               // public address the peer is reached at
  uint16_t port = 0;
  bool has_lan = false;
  Ip lan_ip;           // LAN address, handed only to peers on the same LAN
  uint16_t lan_port = 0;
  Locality loc;
  Reach reach = Reach::unknown;
  NatBucket nat = NatBucket::unknown;
  uint64_t uploaded = 0, downloaded = 0, left = 0;
};

struct SelectionPolicy {
  uint32_t numwant = 50;
  uint32_t outside_isp = 2;   // k peers from other ISPs kept in every list (biased neighbour selection)
  bool want_v4 = true;
  bool want_v6 = true;
  bool locality = true;       // false = plain random tracker (for comparisons)
  bool reachability = true;   // false = ignore NAT classes
};

struct SelectedPeer {
  PeerId peer_id{};
  Ip ip;
  uint16_t port = 0;
  Tier tier = Tier::other;
  Pairing pairing = Pairing::unknown;
  bool seeder = false;
};

struct SwarmCounts {
  uint32_t seeders = 0;
  uint32_t leechers = 0;
  uint64_t completed = 0;
  uint64_t uploaded = 0;    // cumulative Σ uploaded reported by peers
  uint64_t downloaded = 0;  // cumulative Σ downloaded reported by peers
  std::array<uint32_t, kNatBucketCount> nat{};
  std::array<uint64_t, kTierCount> tiers{};  // peers handed out, by tier
};

struct AnnounceResult {
  bool too_soon = false;  // re-announce before min interval: answered from counts, nothing changed
  std::vector<SelectedPeer> peers;
  uint32_t seeders = 0;
  uint32_t leechers = 0;
  uint64_t completed = 0;
  uint32_t interval_hint = 0;  // seconds; non-zero = a degraded store asks for a sooner re-announce
};

enum class Status { ok, unavailable, limit };

struct AnnounceOp {
  InfoHash info_hash{};
  PeerData peer;
  Event event = Event::none;
  SelectionPolicy policy;
  int64_t min_interval_ms = 0;  // periodic announces sooner than this get a cheap reply; 0 = off
};

class SwarmStore {
 public:
  virtual ~SwarmStore() = default;
  using AnnounceCallback = std::function<void(Status, AnnounceResult&&)>;
  using ScrapeCallback = std::function<void(Status, std::vector<SwarmCounts>&&)>;

  virtual void announce(const AnnounceOp& op, AnnounceCallback cb) = 0;
  // Answers on the spot when the store can (the in-memory one): returns true with `st` and
  // `out` set, sparing the caller a continuation; false means "use announce()".
  virtual bool announce_now(const AnnounceOp& op, Status& st, AnnounceResult& out) {
    (void)op, (void)st, (void)out;
    return false;
  }
  virtual void scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) = 0;
  // Latest known counts (may be slightly stale in networked stores); for metrics and admin views.
  virtual SwarmCounts counts(const InfoHash& h) = 0;
  virtual void remove_swarm(const InfoHash& h) = 0;
  // Periodic maintenance (expiry of silent peers); cheap, bounded work.
  virtual void maintain() = 0;
  virtual std::string backend() const = 0;
  virtual bool healthy(std::string& why) const = 0;
  // True while answers come from a local fallback instead of the shared store.
  virtual bool degraded() const { return false; }
};

}  // namespace otaswarm::store

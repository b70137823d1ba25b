#pragma once
// Per-release relay budget: relayed bytes cost egress, so each release gets a bounded number of
// concurrent relay sessions, derived from a bytes/s budget and the rate each session may use.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

namespace otaswarm::rendezvous {

struct RelayBudgetConfig {
  double release_bytes_per_second = 0;  // total relay budget of one release
  double session_bytes_per_second = 0;  // what one relayed pair may use (coturn --max-bps)
  size_t max_allocations = 0;           // concurrent relay sessions per release
  int64_t session_ttl_ms = 0;           // a session holds its slot this long at most unless renewed
};

// A TURN allocation ends this long after its last refresh unless the server granted another
// lifetime (RFC 8656 default, coturn's too): a slot is not held longer than its allocation.
inline constexpr int64_t kTurnAllocationLifetimeMs = 600 * 1000;

// The rendezvous's defaults (its --relay-* flags); the simulator admits relays with the same.
inline constexpr RelayBudgetConfig kDefaultRelayBudget{10 * 1024 * 1024, 256 * 1024, 100, 600 * 1000};

class RelayBudget {
 public:
  explicit RelayBudget(RelayBudgetConfig c) : c_(c) {}
  // Concurrent sessions one release may hold.
  size_t capacity() const;
  // Takes (or renews) the slot of `pair` in `info_hash` for hold_ms (the allocation's lifetime,
  // capped at session_ttl_ms; 0: session_ttl_ms); false when the release is out of budget.
  bool admit(const std::string& info_hash, const std::string& pair, int64_t now_ms, int64_t hold_ms = 0);
  // Frees the slot of `pair` at once (the relay ended); false when it held none.
  bool release(const std::string& info_hash, const std::string& pair);
  size_t active(const std::string& info_hash, int64_t now_ms);

 private:
  void sweep(std::map<std::string, int64_t>& sessions, int64_t now_ms);
  RelayBudgetConfig c_;
  std::mutex mu_;
  std::unordered_map<std::string, std::map<std::string, int64_t>> sessions_;  // info_hash → pair → expiry
};

}  // namespace otaswarm::rendezvous

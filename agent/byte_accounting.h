#pragma once
// Payload bytes by path: which way a received block came (web seed, LAN peer, direct Internet
// peer, punched, relayed) and what was uploaded. The counters are written from libtorrent's
// network thread (agent/bt_accounting.h) and read by the agent's main loop, hence atomics.
#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "common/json.h"
#include "common/net.h"

namespace otaswarm::agent {

enum class Path : uint8_t { webseed, lan, direct, punched, relayed };
inline constexpr size_t kPathCount = 5;
const char* path_name(Path p);

enum class ConnectionKind : uint8_t { peer, web_seed };

// web seeds (BEP 19 and BEP 17) → webseed; a peer at a private, loopback or link-local address,
// or inside one of `local_networks` (the device's own subnets, e.g. a public IPv6 /64) → lan;
// any other peer → direct. punched / relayed need NAT traversal, which marks them itself.
Path classify(ConnectionKind kind, const net::Address& remote, std::span<const net::Cidr> local_networks);

struct ByteTotals {
  std::array<uint64_t, kPathCount> received{};
  uint64_t uploaded = 0;
  uint64_t received_total() const;
  uint64_t of(Path p) const { return received[static_cast<size_t>(p)]; }
};

// {"webseed":N,"lan":N,"direct":N,"punched":N,"relayed":N}
Json bytes_json(const ByteTotals& t);

class ByteCounters {
 public:
  void add_received(Path p, uint64_t n) { received_[static_cast<size_t>(p)].fetch_add(n, std::memory_order_relaxed); }
  void add_uploaded(uint64_t n) { uploaded_.fetch_add(n, std::memory_order_relaxed); }
  ByteTotals snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kPathCount> received_{};
  std::atomic<uint64_t> uploaded_{0};
};

}  // namespace otaswarm::agent

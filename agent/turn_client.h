#pragma once
// A TURN (RFC 8656) client for one UDP allocation, sans-I/O like agent/nat_probe.h: the agent
// sends what poll() returns to the TURN server from its public socket and hands back what the
// server sends. Long-term credentials (the rendezvous's coturn REST username/password),
// Allocate → CreatePermission per peer IP → Send/Data indications, Refresh before expiry.
// Failures (486 quota, 401 with bad credentials, silence) end in failed(), never a throw.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/proto/stun.h"

namespace otaswarm::agent {

using TurnClock = std::chrono::steady_clock;

inline constexpr std::chrono::milliseconds kTurnRequestTimeout{3000};
inline constexpr int kTurnRetransmits = 4;
inline constexpr std::chrono::seconds kPermissionRefresh{120};  // permissions last 300 s
inline constexpr uint32_t kDefaultAllocationLifetime = 600;
inline constexpr uint8_t kTransportUdp = 17;

struct TurnOptions {
  net::HostPort server;
  std::string username, password;
};

class TurnClient {
 public:
  explicit TurnClient(TurnOptions options);

  void start(TurnClock::time_point now);
  // The next request to send to the server, if any.
  std::optional<std::string> poll(TurnClock::time_point now);
  TurnClock::time_point wakeup() const;
  // A STUN message from the server. A Data indication yields (peer, payload).
  struct Data {
    net::HostPort peer;
    std::string payload;
  };
  std::optional<Data> on_datagram(std::string_view bytes, TurnClock::time_point now);

  // Lets datagrams from this IP through the allocation (CreatePermission, refreshed).
  void permit(const net::Address& peer);
  // A Send indication carrying `payload` to `peer` through the allocation.
  std::string send_indication(const net::HostPort& peer, std::string_view payload) const;

  const std::optional<net::HostPort>& relayed() const { return relayed_; }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  struct Tx {
    uint16_t method = 0;
    stun::TransactionId tid{};
    std::string bytes;
    TurnClock::time_point deadline{}, next{};
    TurnClock::duration rto{};
    net::Address peer;  // permissions
    int attempts = 0;   // authentication retries
  };
  void queue(uint16_t method, TurnClock::time_point now, const net::Address& peer = {}, int attempts = 0);
  std::string build(uint16_t method, const stun::TransactionId& tid, const net::Address& peer) const;

  TurnOptions options_;
  std::string realm_, nonce_, key_;
  std::optional<Tx> tx_;
  std::deque<std::pair<uint16_t, net::Address>> pending_;
  std::set<net::Address> permitted_;
  std::optional<net::HostPort> relayed_;
  TurnClock::time_point refresh_at_ = TurnClock::time_point::max(), permissions_at_ = TurnClock::time_point::max();
  std::string error_;
  bool started_ = false;
};

}  // namespace otaswarm::agent

#pragma once
// The device side of the rendezvous (docs/rendezvous-protocol.md) as a sans-I/O state machine,
// like agent/nat_probe.h: it says what to send and when, the caller moves the bytes on the
// agent's public UDP socket (and, for the probe's filtering tests, a second socket) and hands
// back what arrives. It classifies the NAT (NatProbe), registers from the public socket,
// refreshes the registration (which also keeps the NAT mapping open), surfaces the NAT ticket,
// asks for connections (RDV-CONNECT) and turns connect replies and RDV-PUNCH indications into
// punch orders. A silent or garbling rendezvous is retried with backoff, counted, never fatal.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/nat_probe.h"
#include "common/net.h"
#include "common/proto/nat.h"
#include "common/proto/rdv.h"
#include "common/proto/stun.h"

namespace otaswarm::agent {

using RdvClock = ProbeClock;

inline constexpr std::chrono::seconds kRegisterRefresh{20};     // protocol: re-register every ≤ 25 s
inline constexpr std::chrono::milliseconds kRdvRequestTimeout{2000};
inline constexpr int kRdvRetransmits = 3;                        // doubling within the timeout
inline constexpr std::chrono::seconds kRdvBackoffInitial{1};
inline constexpr std::chrono::seconds kRdvBackoffMax{30};
inline constexpr size_t kMaxPendingConnects = 16;                // RDV-CONNECTs in flight at once
inline constexpr size_t kMaxQueuedOrders = 64;

struct RendezvousOptions {
  net::HostPort server;   // primary address of the rendezvous
  std::string token;      // device token
  std::string info_hash;  // 20 bytes
  std::optional<net::HostPort> lan;  // the device's LAN endpoint of the public socket
  bool probe = true;      // classify the NAT before registering
  std::chrono::milliseconds probe_timeout = kDefaultProbeTimeout;
  std::chrono::milliseconds refresh = kRegisterRefresh;
  std::chrono::milliseconds request_timeout = kRdvRequestTimeout;
  int retransmits = kRdvRetransmits;
  std::chrono::milliseconds backoff_initial = kRdvBackoffInitial;
  std::chrono::milliseconds backoff_max = kRdvBackoffMax;
};

// What to do about one peer, from an RDV-CONNECT reply (we asked) or an RDV-PUNCH (it asked).
struct PunchOrder {
  std::string device_id;
  nat::Decision decision = nat::Decision::direct;
  rdv::Action action = rdv::Action::connect;
  net::HostPort reflexive;
  std::optional<net::HostPort> lan;
  nat::NatClass nat_class;
  RdvClock::time_point start{};  // receipt + RDV-START-DELAY (no clock skew)
  bool from_indication = false;
  std::string turn_username, turn_password;
  std::optional<net::HostPort> relayed;
};

struct RendezvousStats {
  uint64_t registrations = 0;  // successful RDV-REGISTERs (first and refreshes)
  uint64_t timeouts = 0;       // requests that got no answer in time
  uint64_t refusals = 0;       // error responses
  uint64_t garbage = 0;        // STUN-looking datagrams we could not use
  uint64_t connects = 0;       // RDV-CONNECT successes
  uint64_t connect_failures = 0;
  uint64_t punches = 0;        // RDV-PUNCH indications accepted
};

class RendezvousClient {
 public:
  // `primary_local`: the public socket's local address as routed towards the rendezvous.
  RendezvousClient(RendezvousOptions options, net::HostPort primary_local);

  void start(RdvClock::time_point now);
  // The next datagram to send now, if any (call until nullopt, then wait until wakeup()).
  std::optional<ProbeDatagram> poll(RdvClock::time_point now);
  RdvClock::time_point wakeup() const;
  // A STUN datagram received on one of the sockets from `from`; anything else is counted.
  void on_datagram(ProbeSocket socket, const net::HostPort& from, std::string_view bytes, RdvClock::time_point now);

  // Asks the rendezvous for a path to the peer at this (reflexive) endpoint, once registered.
  // `relayed`: our TURN allocation, forwarded to the peer in its RDV-PUNCH (relay decisions).
  void connect(const net::HostPort& peer, std::optional<net::HostPort> relayed = std::nullopt);
  // Punch orders in arrival order.
  std::optional<PunchOrder> next_order();
  // Peers whose RDV-CONNECT failed (refused, unanswered, unreadable): reach them directly.
  std::optional<net::HostPort> next_failed();

  bool registered() const { return registered_; }
  bool probing() const { return phase_ == Phase::probing; }
  // The probe's result once it ran (unset without a probe).
  const std::optional<ProbeResult>& probe_result() const { return probe_result_; }
  const std::string& nat_ticket() const { return ticket_; }
  const nat::NatClass& nat_class() const { return class_; }
  const std::optional<net::HostPort>& reflexive() const { return reflexive_; }
  const RendezvousStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }

 private:
  enum class Phase : uint8_t { idle, probing, registering, registered };
  struct Transaction {
    stun::TransactionId tid{};
    std::string request;
    RdvClock::time_point deadline{}, next_send{};
    RdvClock::duration rto{};
    net::HostPort peer;  // connects only
  };

  Transaction make(std::string request, const stun::TransactionId& tid, RdvClock::time_point now) const;
  void send_register(RdvClock::time_point now);
  void register_failed(std::string why, RdvClock::time_point now);
  void on_register_reply(const stun::Message& m, RdvClock::time_point now);
  void on_connect_reply(size_t i, const stun::Message& m, RdvClock::time_point now);
  void push_order(const rdv::PeerInfo& p, bool indication, RdvClock::time_point now);
  void fail(std::string why);

  RendezvousOptions options_;
  net::HostPort primary_local_;
  Phase phase_ = Phase::idle;
  std::optional<NatProbe> probe_;
  std::optional<ProbeResult> probe_result_;
  std::optional<Transaction> register_tx_;
  RdvClock::time_point next_register_{};
  RdvClock::duration backoff_{};
  bool registered_ = false;
  std::string ticket_;
  nat::NatClass class_;
  std::optional<net::HostPort> reflexive_;
  std::vector<std::pair<net::HostPort, std::optional<net::HostPort>>> wanted_;  // asked for, not yet sent
  std::vector<Transaction> connects_;
  std::deque<PunchOrder> orders_;
  std::deque<net::HostPort> failed_;
  RendezvousStats stats_;
  std::string last_error_;
};

}  // namespace otaswarm::agent

#pragma once
// RFC 5780 NAT behaviour discovery as a sans-I/O state machine (the stunserver client-logic
// style): the probe says what to send and when, the caller moves the bytes on its own sockets
// and hands back what arrives. The CLI's `nat probe` and the device agent (which owns its
// public UDP port) drive the same machine.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/proto/nat.h"
#include "common/proto/stun.h"

namespace otaswarm::agent {

using ProbeClock = std::chrono::steady_clock;

// The two local sockets a probe uses: the data socket (its mapping is the one peers see) and a
// fresh socket for the filtering tests, so the mapping tests' packets have not opened the filter.
enum class ProbeSocket : uint8_t { primary, filtering };

inline constexpr std::chrono::milliseconds kDefaultProbeTimeout{1500};  // per test; an unanswered filtering test waits this long
inline constexpr int kProbeRetransmits = 4;  // RFC 8489 doubling retransmissions within the timeout

struct ProbeOptions {
  net::HostPort server;  // primary address of an RFC 5780 server
  std::chrono::milliseconds timeout = kDefaultProbeTimeout;
  int retransmits = kProbeRetransmits;
};

struct ProbeDatagram {
  ProbeSocket socket = ProbeSocket::primary;
  net::HostPort to;
  std::string bytes;
};

struct ProbeResult {
  nat::NatClass nat;
  std::optional<bool> hairpinning;        // unset when not tested (public address, or no mapping)
  std::optional<net::HostPort> reflexive; // the primary socket's mapped address
  std::string error;                      // why a class stayed unknown; empty when all tests ran
  bool classified() const {
    return nat.mapping != nat::Mapping::unknown && nat.filtering != nat::Filtering::unknown;
  }
};

class NatProbe {
 public:
  // `primary_local` is the primary socket's local address as the kernel routes it towards the
  // server (not 0.0.0.0): a mapped address equal to it means there is no NAT.
  NatProbe(ProbeOptions options, net::HostPort primary_local);

  // Starts the first test; call once before poll().
  void start(ProbeClock::time_point now);
  // The next datagram to send now, if any (call until nullopt, then wait until wakeup()).
  std::optional<ProbeDatagram> poll(ProbeClock::time_point now);
  // When poll() must be called again even if nothing arrives.
  ProbeClock::time_point wakeup() const { return wakeup_; }
  // A datagram received on one of the two sockets; anything not for the current test is ignored.
  void on_datagram(ProbeSocket socket, std::string_view bytes, ProbeClock::time_point now);

  bool done() const { return step_ == Step::done; }
  const ProbeResult& result() const { return result_; }

 private:
  enum class Step : uint8_t { test1, test2, test3, filter1, filter2, filter3, hairpin, done };
  struct Transaction {
    stun::TransactionId tid{};
    ProbeSocket socket = ProbeSocket::primary;
    net::HostPort to;
    std::string request;
    ProbeClock::time_point deadline{};
    ProbeClock::time_point next_send{};
    ProbeClock::duration rto{};
  };

  void begin(Step step, ProbeClock::time_point now);
  // The current test finished: `mapped` is its XOR-MAPPED-ADDRESS, nullopt on timeout or error.
  void finish(std::optional<net::HostPort> mapped, std::optional<net::HostPort> other, ProbeClock::time_point now);
  void after_mapping(ProbeClock::time_point now);
  void after_filtering(ProbeClock::time_point now);

  ProbeOptions options_;
  net::HostPort primary_local_;
  Step step_ = Step::test1;
  bool started_ = false;
  Transaction tx_;
  ProbeClock::time_point wakeup_{};
  net::HostPort other_;       // the server's OTHER-ADDRESS
  net::HostPort mapped1_, mapped2_;
  ProbeResult result_;
};

}  // namespace otaswarm::agent

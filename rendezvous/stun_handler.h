#pragma once
// STUN request processing for the rendezvous: RFC 8489 Binding with RFC 5780 behaviour
// discovery, plus the rendezvous methods (register, connect; docs/rendezvous-protocol.md).
// No sockets: process() turns one inbound message into replies the caller sends.
// One StunHandler per I/O thread; the store, relay budget, rate limiters and metrics are
// shared and thread-safe.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/proto/rdv.h"
#include "common/proto/stun.h"
#include "common/proto/token.h"
#include "common/rate_limit.h"
#include "rendezvous/metrics.h"
#include "rendezvous/relay_budget.h"
#include "rendezvous/store/registration_store.h"

namespace otaswarm::rendezvous {

// Local STUN sockets: index bit 1 = alternate IP, bit 0 = alternate port.
inline constexpr int kSocketCount = 4;
inline constexpr int kAltIpBit = 2, kAltPortBit = 1;
// Unauthenticated replies are at most this many times the request's size (reflection attacks).
inline constexpr double kMaxAmplification = 3.0;

enum class Transport { udp, tcp };

struct HandlerConfig {
  std::array<Endpoint, kSocketCount> local;  // bound addresses (missing ones empty)
  bool has_alt_ip = false;
  std::string software = "otaswarm-rendezvous";
  std::string replica = "local";
  token::KeyRing device_keys;
  std::string ticket_key;
  int64_t ticket_ttl_s = 3600;
  int64_t registration_ttl_s = 120;
  int64_t punch_lead_ms = 400;
  std::string turn_secret;
  int64_t turn_ttl_s = 600;
  RateLimit per_address;
  RateLimit per_device;
  size_t max_rate_keys = 100'000;
};

struct Shared {
  RegistrationStore& store;
  RelayBudget& relay;
  Metrics& metrics;
  const Clock& clock;
  // Limiters shared by every thread's handler, so a device or address gets its limit once, not
  // once per thread. Null: the handler makes its own from HandlerConfig (tests, single thread).
  RateLimiter* per_address = nullptr;
  RateLimiter* per_device = nullptr;
};

struct Inbound {
  std::string_view data;
  Endpoint remote;
  int local_index = 0;
  Transport transport = Transport::udp;
};

struct Reply {
  int from_index = 0;  // UDP: which local socket sends it
  Endpoint to;
  std::string bytes;
};

// pending: the answer needs the shared store; it comes later through the Completion.
enum class Outcome { ok, error, dropped, rate_limited, pending };
inline constexpr size_t kOutcomeCount = 5;
const char* to_string(Outcome o);

struct Result {
  Outcome outcome = Outcome::dropped;
  std::string drop_reason;
  std::vector<Reply> replies;
};

// Receives the result of a request process() answered with Outcome::pending; called exactly
// once, on any thread (the shared store's), never with Outcome::pending.
using Completion = std::function<void(Result&&)>;

class StunHandler {
 public:
  StunHandler(const HandlerConfig& cfg, Shared shared);
  // Without `later` (or with a store that is not shared) the result is final: a registration
  // this replica does not hold counts as absent.
  Result process(const Inbound& in, Completion later = {});

  struct ConnectCtx;

 private:
  Result binding(const stun::Message& m, const Inbound& in);
  Result do_register(const stun::Message& m, const Inbound& in);
  Result do_connect(const stun::Message& m, const Inbound& in, Completion& later);
  // The rest of a connect once both registrations were looked up; safe on any thread.
  Result finish_connect(ConnectCtx& c);
  void resolve_async(std::shared_ptr<ConnectCtx> c, Completion later);
  Result error_reply(const stun::Message& m, const Inbound& in, int code, std::string_view reason,
                     std::span<const uint16_t> unknown = {});
  // Device id from the token attribute, or empty (and an error result) when missing/invalid.
  std::string authenticate(const stun::Message& m, const Inbound& in, Result& err);
  // The rdv_punch indication telling a peer about `from`; d is the decision with the peer as 'a'.
  std::string punch_indication(const Registration& from, nat::Decision d, const Endpoint& relayed,
                               int64_t start_unix_ms) const;

  const HandlerConfig& cfg_;
  Shared sh_;
  std::unique_ptr<RateLimiter> own_address_, own_device_;
  RateLimiter& per_address_;
  RateLimiter& per_device_;
};

// Per-recipient action carried in the RDV-DECISION attribute (second byte); the codec's.
using Action = rdv::Action;
using rdv::to_string;
Action action_for(nat::Decision d, bool peer_connectable);

}  // namespace otaswarm::rendezvous

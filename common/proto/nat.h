#pragma once
// NAT-class model shared by the rendezvous (which measures it) and the tracker (which pairs
// peers by it): RFC 4787 / RFC 5780 mapping and filtering behaviour, the coarse reachability
// used for peer selection, the per-pair compatibility matrix, and the signed NAT ticket a
// device carries from the rendezvous to the tracker (format in docs/nat.md).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/proto/token.h"

namespace otaswarm::nat {

enum class Mapping : uint8_t { unknown, endpoint_independent, address_dependent, address_and_port_dependent };
enum class Filtering : uint8_t { unknown, endpoint_independent, address_dependent, address_and_port_dependent };

struct NatClass {
  Mapping mapping = Mapping::unknown;
  Filtering filtering = Filtering::unknown;
  bool public_address = false;
  bool operator==(const NatClass&) const = default;
};

// Coarse reachability used by the tracker's peer selection:
//   connectable: accepts unsolicited inbound (public address, or EIM + EIF)
//   punchable:   endpoint-independent mapping, so a coordinated hole punch works with most peers
//   hard:        address(-and-port)-dependent mapping (symmetric): needs a connectable peer or relay
//   unknown
enum class Reach : uint8_t { unknown, connectable, punchable, hard };
Reach reach_of(const NatClass& c);

const char* to_string(Mapping m);
const char* to_string(Filtering f);
const char* to_string(Reach r);
// Parses the strings above ("endpoint-independent", ...); nullopt for anything else.
std::optional<Mapping> parse_mapping(std::string_view s);
std::optional<Filtering> parse_filtering(std::string_view s);

// The classic (RFC 3489) NAT names as full classes: "public", "full-cone", "restricted",
// "port-restricted", "symmetric" — how simulators and load generators describe a population.
std::optional<NatClass> classic_class(std::string_view name);
inline constexpr std::string_view kClassicNames[] = {"public", "full-cone", "restricted", "port-restricted",
                                                     "symmetric"};

enum class Decision : uint8_t { direct, punch_a_initiates, punch_b_initiates, punch_simultaneous, relay };
const char* to_string(Decision d);
// The compatibility matrix (docs/nat.md): how A and B get a path to each other.
//   direct: one side accepts unsolicited inbound, the other simply connects to it;
//   punch_x_initiates: x (whose NAT maps per destination) must send first, the other side
//     only pre-opens its address-dependent filter towards x's IP;
//   punch_simultaneous: both map independently of the destination, both send at the start time;
//   relay: no punch can work (e.g. both sides map per destination) — TURN.
Decision decide(const NatClass& a, const NatClass& b);

// Ticket limits: it travels as the `nat` announce parameter.
inline constexpr size_t kMaxTicketLength = 200;

struct Ticket {
  std::string device_id;
  NatClass cls;
  std::string reflexive;  // "ip:port" ("[v6]:port"), or empty when unknown
  int64_t expiry = 0;
};
enum class TicketStatus { ok, malformed, bad_signature, expired };
const char* to_string(TicketStatus s);
struct TicketResult {
  TicketStatus status = TicketStatus::malformed;
  Ticket ticket;
};

// URL-safe text of at most kMaxTicketLength bytes; empty when the ticket cannot be encoded
// (bad device id, bad reflexive endpoint, empty key, or too long).
std::string mint_ticket(std::string_view key, const Ticket& t);
TicketResult verify_ticket(const token::KeyRing& keys, std::string_view text, const Clock& clock);

}  // namespace otaswarm::nat

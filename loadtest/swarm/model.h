#pragma once
// The swarm simulator's model: who the phones are (scenario), what the rendezvous and the
// tracker do for them (policy), and the one calibrated set of link assumptions (docs/simulation.md).
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/proto/nat.h"
#include "rendezvous/relay_budget.h"

namespace otaswarm::sim {

inline constexpr double kMbit = 1e6 / 8.0;  // bytes per second in one Mbit/s
inline constexpr double kUnlimited = std::numeric_limits<double>::infinity();
inline constexpr double kForever = std::numeric_limits<double>::infinity();

// Coarse NAT kinds the scenarios draw from; each maps to a full RFC 4787 class for nat::decide().
enum class NatKind : uint8_t { public_address, full_cone, restricted, port_restricted, symmetric };
inline constexpr size_t kNatKinds = 5;
const char* to_string(NatKind k);
std::optional<NatKind> parse_nat_kind(const std::string& s);
nat::NatClass nat_class_of(NatKind k);

// One calibrated set of assumptions, the same for every scenario and policy.
struct Calibration {
  double wifi_down_bps = 50 * kMbit;       // home broadband downlink (per household)
  double wifi_up_bps = 7 * kMbit;          // home broadband uplink (per household)
  double wifi_channel_bps = 24 * kMbit;    // Wi-Fi airtime shared by a household's phones (half duplex)
  // A connection moves at most one window per round trip (TCP/uTP without large windows).
  double window_bytes = 64 * 1024;
  double webseed_rtt_s = 0.05;             // phone ↔ S3 region
  double peer_rtt_s = 0.15;                // phone ↔ phone across two access networks
  double lan_rtt_s = 0.005;                // phone ↔ phone through the home access point
  double relay_rtt_s = 0.2;                // phone ↔ TURN ↔ phone
  double choke_interval_s = 10;            // BitTorrent re-evaluates unchokes this often
  uint32_t upload_slots = 4;               // regular unchoke slots (+1 optimistic)
  uint32_t max_peers = 50;                 // connections per phone
  int32_t numwant = 50;                    // peers asked of the tracker per announce
  uint32_t announce_interval_s = 90;       // given to the real tracker (--announce-interval)
  double redial_interval_s = 30;           // a client redials known, unconnected peers this often
  double nat_udp_timeout_s = 60;           // a NAT keeps an outbound UDP filter entry open this long
  double unassisted_open_share = 0.35;     // cone–cone pairs whose unassisted SYNs cross (port preserved, timing)
  double step_s = 0.25;                    // simulation time step
  double per_connection_bps(double rtt_s) const { return window_bytes / rtt_s; }
};

struct LinkClass {
  double down_bps = 0, up_bps = 0;
  double channel_bps = kUnlimited;  // shared half-duplex Wi-Fi; unlimited for cellular
};

// A population group: phones drawn with these properties.
struct Group {
  double weight = 1;                 // share of phones
  bool cellular = false;             // own link behind a carrier-grade NAT; else a household on Wi-Fi
  std::vector<uint32_t> household_sizes{1};  // phones per household, drawn uniformly from this list
  std::array<double, kNatKinds> nat_mix{0, 0, 0, 1, 0};  // by NatKind
  uint32_t cgnat_sharing = 16;       // cellular phones per carrier-grade NAT address
};

struct Isp {
  std::string name, region;
  double weight = 1;
};

struct Scenario {
  std::string name, description;
  uint32_t phones = 5;
  uint64_t file_bytes = 129'241'752;
  uint32_t piece_bytes = 256 * 1024;
  double ramp_s = 0;             // phones join uniformly over [0, ramp_s]
  double seed_time_s = kForever;  // a phone stays as a seeder this long after completing
  LinkClass wifi, cellular;
  std::vector<Isp> isps{{"isp-a", "region-1", 1}};
  std::vector<Group> groups{Group{}};
  // Explicit NAT kinds for the first phones (the thesis's "k of 5 connectable").
  std::vector<NatKind> fixed_nat;
  bool one_household = false;    // every phone behind one router on one Wi-Fi
};

// LAN pairing mode, all through the real tracker: `hint` = phones send localip + lan hint;
// `address` = localip only, tracker --lan-pairing-requires-hint false; `off` = localip only.
enum class LanPairing : uint8_t { off, hint, address };
const char* to_string(LanPairing m);

struct Policy {
  std::string name, description;
  bool use_peers = true;        // false: client-server, everything from S3
  bool locality = false;        // tracker --peer-selection locality (else random)
  bool reachability = false;    // tracker --reachability
  bool nat_tickets = false;     // phones carry the rendezvous's NAT ticket
  bool punching = false;        // rendezvous-coordinated hole punching
  bool relay = false;           // TURN relay within the budget
  LanPairing lan = LanPairing::off;
  // Origin pacing (docs/origin-pacing.md): phones ask the tracker (origin=1) and follow its
  // advice; false: the web seed runs from the first second (what stock clients do).
  bool paced_origin = false;
  std::string origin_policy;  // JSON PUT to /api/v1/releases/<ih>/origin-policy; empty: the tracker's default
  // Relay sessions are admitted by the rendezvous's own RelayBudget, in simulated time.
  rendezvous::RelayBudgetConfig relay_budget = rendezvous::kDefaultRelayBudget;
  // Success of a coordinated punch, by the two NAT kinds (symmetric matrix).
  std::array<std::array<double, kNatKinds>, kNatKinds> punch_success{};
};

std::vector<Scenario> builtin_scenarios(const Calibration& cal);
std::optional<Scenario> find_scenario(const std::string& name, const Calibration& cal);
std::vector<Policy> builtin_policies();
std::optional<Policy> find_policy(const std::string& name);

// A simulated phone, as the population generator lays it out.
struct Phone {
  uint32_t id = 0;
  uint32_t site = 0;        // owner of the access link (household, or the phone itself)
  uint32_t nat = 0;         // owner of the public address
  int32_t lan = -1;         // household LAN, -1 for cellular
  uint32_t isp = 0;
  NatKind kind = NatKind::port_restricted;
  double join_s = 0;
  std::string public_ip;    // 127.<isp+1>.x.y: one per NAT, the tracker's ALTO map knows the /16
  std::string lan_ip;       // 192.168.1.x inside the household, empty for cellular
  uint16_t port = 0;
};

struct Site {
  LinkClass link;
  bool household = false;
};

struct Nat {
  NatKind kind = NatKind::port_restricted;
  bool hairpin = false;  // carrier-grade NATs hairpin (RFC 6888 REQ-9), home routers mostly do not
};

struct Population {
  std::vector<Phone> phones;
  std::vector<Site> sites;
  std::vector<Nat> nats;
  uint32_t lans = 0;
};

Population make_population(const Scenario& s, uint64_t seed);

}  // namespace otaswarm::sim

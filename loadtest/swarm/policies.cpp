#include "loadtest/swarm/model.h"

namespace otaswarm::sim {

namespace {

// Coordinated punch success by NAT kinds; pairs nat::decide() calls direct or relay never use it.
// Both cones map per endpoint: a timed simultaneous send works unless a packet is lost or a
// mapping expires. One side maps per destination: the punch depends on its first packet.
constexpr double kPunchBothCones = 0.9;
constexpr double kPunchOneSymmetric = 0.6;

std::array<std::array<double, kNatKinds>, kNatKinds> default_punch_matrix() {
  std::array<std::array<double, kNatKinds>, kNatKinds> m{};
  for (size_t a = 0; a < kNatKinds; ++a)
    for (size_t b = 0; b < kNatKinds; ++b) {
      bool sym_a = static_cast<NatKind>(a) == NatKind::symmetric, sym_b = static_cast<NatKind>(b) == NatKind::symmetric;
      m[a][b] = sym_a && sym_b ? 0.0 : (sym_a || sym_b) ? kPunchOneSymmetric : kPunchBothCones;
    }
  return m;
}

}  // namespace

std::vector<Policy> builtin_policies() {
  std::vector<Policy> v;
  Policy cs;
  cs.name = "client-server";
  cs.description = "every byte from S3 (no tracker, no peers)";
  cs.use_peers = false;
  v.push_back(cs);

  Policy random;
  random.name = "random";
  random.description = "plain tracker: otaswarm-tracker --peer-selection random --reachability false, no punching";
  v.push_back(random);

  Policy locality;
  locality.name = "locality";
  locality.description = "locality selection (same LAN, ISP, region first) with LAN hints; no reachability, no punching";
  locality.locality = true;
  locality.lan = LanPairing::hint;
  v.push_back(locality);

  Policy punch = locality;
  punch.name = "locality-punch";
  punch.description = "locality + reachability (NAT tickets) + rendezvous hole punching; no relay";
  punch.reachability = true;
  punch.nat_tickets = true;
  punch.punching = true;
  v.push_back(punch);

  Policy full = punch;
  full.name = "otaswarm";
  full.description =
      "locality + reachability + hole punching + TURN relay within budget + origin pacing (the tracker's paced policy)";
  full.relay = true;
  full.paced_origin = true;
  v.push_back(full);

  Policy greedy = full;
  greedy.name = "otaswarm-greedy";
  greedy.description = "otaswarm without origin pacing: the web seed runs from the first second (greedy policy)";
  greedy.paced_origin = false;
  v.push_back(greedy);

  for (auto& p : v) p.punch_success = default_punch_matrix();
  return v;
}

std::optional<Policy> find_policy(const std::string& name) {
  for (auto& p : builtin_policies())
    if (p.name == name) return p;
  return std::nullopt;
}

}  // namespace otaswarm::sim

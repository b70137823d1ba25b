#include <algorithm>
#include <random>

#include "loadtest/swarm/model.h"

namespace otaswarm::sim {

namespace {

constexpr uint32_t kThesisPhones = 5;
constexpr uint32_t kFlashPhones = 1500;
constexpr uint32_t kFlashSmallPhones = 150;
constexpr double kFlashRampS = 600;
constexpr double kFlashSmallRampS = 120;
constexpr double kFlashSeedTimeS = 600;  // phones seed while the user is asked to install
constexpr uint16_t kFirstPort = 10000;
constexpr uint32_t kHostsPerSubnet = 250;  // public addresses per 127.<isp>.<n>.0/24
constexpr uint32_t kFirstLanHost = 10;     // 192.168.1.10, .11, ... inside a household

// SimpleBit (100–1,500 peers): 2,000 kbit/s up, 8× down.
constexpr double kSimpleBitUpBps = 2 * kMbit;
constexpr double kSimpleBitDownFactor = 8;

Scenario thesis(const Calibration& cal, std::string name, std::string desc, std::vector<NatKind> kinds) {
  Scenario s;
  s.name = std::move(name);
  s.description = std::move(desc);
  s.phones = kThesisPhones;
  s.wifi = {cal.wifi_down_bps, cal.wifi_up_bps, cal.wifi_channel_bps};
  s.fixed_nat = std::move(kinds);
  return s;
}

Scenario flash(std::string name, uint32_t phones, double ramp, const Calibration& cal) {
  Scenario s;
  s.name = std::move(name);
  s.phones = phones;
  s.description = std::to_string(phones) + " phones join over " + std::to_string(static_cast<int>(ramp)) +
                  " s; SimpleBit links (2 Mbit/s up, 16 down); 4 ISPs in 2 regions; 70% on home Wi-Fi, 30% cellular";
  s.ramp_s = ramp;
  s.seed_time_s = kFlashSeedTimeS;
  s.wifi = {kSimpleBitUpBps * kSimpleBitDownFactor, kSimpleBitUpBps, cal.wifi_channel_bps};
  s.cellular = {kSimpleBitUpBps * kSimpleBitDownFactor, kSimpleBitUpBps, kUnlimited};
  s.isps = {{"telco-a", "north", 0.4}, {"telco-b", "north", 0.3}, {"cable-c", "south", 0.2}, {"mobile-d", "south", 0.1}};
  Group home;
  home.weight = 0.7;
  home.household_sizes = {1, 1, 2, 2, 3};
  home.nat_mix = {0.05, 0.10, 0.15, 0.50, 0.20};  // public, full / restricted / port-restricted cone, symmetric
  Group cell;
  cell.weight = 0.3;
  cell.cellular = true;
  cell.nat_mix = {0.0, 0.0, 0.1, 0.2, 0.7};  // carrier-grade NATs are mostly symmetric
  s.groups = {home, cell};
  return s;
}

}  // namespace

const char* to_string(NatKind k) {
  switch (k) {
    case NatKind::public_address: return "public";
    case NatKind::full_cone: return "full-cone";
    case NatKind::restricted: return "restricted";
    case NatKind::port_restricted: return "port-restricted";
    case NatKind::symmetric: return "symmetric";
  }
  return "?";
}

std::optional<NatKind> parse_nat_kind(const std::string& s) {
  for (size_t i = 0; i < kNatKinds; ++i)
    if (s == to_string(static_cast<NatKind>(i))) return static_cast<NatKind>(i);
  return std::nullopt;
}

nat::NatClass nat_class_of(NatKind k) { return nat::classic_class(to_string(k)).value_or(nat::NatClass{}); }

const char* to_string(LanPairing m) {
  switch (m) {
    case LanPairing::off: return "off";
    case LanPairing::hint: return "hint";
    case LanPairing::address: return "address";
  }
  return "?";
}

std::vector<Scenario> builtin_scenarios(const Calibration& cal) {
  using K = NatKind;
  std::vector<Scenario> v;
  v.push_back(thesis(cal, "thesis-ideal", "5 phones, one 129,241,752-byte file, all start at once, all connectable",
                     {K::full_cone, K::full_cone, K::full_cone, K::full_cone, K::full_cone}));
  v.push_back(thesis(cal, "thesis-general", "as thesis-ideal, 1 of 5 connectable (the others behind port-restricted NATs)",
                     {K::full_cone, K::port_restricted, K::port_restricted, K::port_restricted, K::port_restricted}));
  v.push_back(thesis(cal, "thesis-worst", "as thesis-ideal, none connectable (all behind port-restricted NATs)",
                     {K::port_restricted, K::port_restricted, K::port_restricted, K::port_restricted,
                      K::port_restricted}));
  Scenario wifi = thesis(cal, "thesis-one-wifi",
                         "the same 5 phones on one Wi-Fi behind one home router (port-restricted NAT, no hairpinning)",
                         {K::port_restricted});
  wifi.one_household = true;
  v.push_back(wifi);
  v.push_back(flash("flash-1500", kFlashPhones, kFlashRampS, cal));
  v.push_back(flash("flash-150", kFlashSmallPhones, kFlashSmallRampS, cal));
  return v;
}

std::optional<Scenario> find_scenario(const std::string& name, const Calibration& cal) {
  for (auto& s : builtin_scenarios(cal))
    if (s.name == name) return s;
  return std::nullopt;
}

Population make_population(const Scenario& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick = [&](const auto& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double r = unit(rng) * total;
    for (size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.size() - 1;
  };
  std::vector<double> isp_w, group_w;
  for (const auto& i : s.isps) isp_w.push_back(i.weight);
  for (const auto& g : s.groups) group_w.push_back(g.weight);

  Population pop;
  std::vector<uint32_t> addresses_per_isp(s.isps.size(), 0);
  auto new_nat = [&](uint32_t isp, NatKind kind, bool hairpin) {
    pop.nats.push_back({kind, hairpin});
    uint32_t n = addresses_per_isp[isp]++;
    return std::make_pair(static_cast<uint32_t>(pop.nats.size() - 1),
                          "127." + std::to_string(isp + 1) + "." + std::to_string(n / kHostsPerSubnet) + "." +
                              std::to_string(n % kHostsPerSubnet + 1));
  };
  // Open carrier-grade NAT per (group, isp): phones fill it up to cgnat_sharing.
  std::map<std::pair<size_t, uint32_t>, std::pair<uint32_t, uint32_t>> cgnat;  // → (nat, used)
  std::vector<std::string> nat_ip;

  while (pop.phones.size() < s.phones) {
    size_t gi = s.one_household ? 0 : pick(group_w);
    const Group& g = s.groups[gi];
    uint32_t isp = static_cast<uint32_t>(pick(isp_w));
    size_t idx = pop.phones.size();
    auto kind_for = [&]() {
      return idx < s.fixed_nat.size() ? s.fixed_nat[idx] : static_cast<NatKind>(pick(g.nat_mix));
    };
    if (g.cellular && !s.one_household) {
      Phone p;
      p.isp = isp;
      pop.sites.push_back({s.cellular, false});
      p.site = static_cast<uint32_t>(pop.sites.size() - 1);
      auto& c = cgnat[{gi, isp}];
      if (c.second == 0 || c.second >= g.cgnat_sharing) {
        auto [id, ip] = new_nat(isp, kind_for(), true);
        nat_ip.push_back(ip);
        c = {id, 0};
      }
      c.second++;
      p.nat = c.first;
      pop.phones.push_back(p);
      continue;
    }
    uint32_t size = s.one_household ? s.phones : g.household_sizes[static_cast<size_t>(unit(rng) * g.household_sizes.size()) % g.household_sizes.size()];
    size = std::min<uint32_t>(size, s.phones - static_cast<uint32_t>(pop.phones.size()));
    pop.sites.push_back({s.wifi, true});
    auto [nat_id, ip] = new_nat(isp, kind_for(), false);
    nat_ip.push_back(ip);
    uint32_t lan = pop.lans++;
    for (uint32_t k = 0; k < size; ++k) {
      Phone p;
      p.isp = isp;
      p.site = static_cast<uint32_t>(pop.sites.size() - 1);
      p.nat = nat_id;
      p.lan = static_cast<int32_t>(lan);
      p.lan_ip = "192.168.1." + std::to_string(kFirstLanHost + k);
      pop.phones.push_back(p);
    }
  }
  std::vector<double> joins(pop.phones.size(), 0.0);
  for (auto& j : joins) j = unit(rng) * s.ramp_s;
  std::sort(joins.begin(), joins.end());
  // Households join together in the ramp order of their first phone; shuffle phones over join times.
  std::vector<uint32_t> order(pop.phones.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  if (s.ramp_s > 0) std::shuffle(order.begin(), order.end(), rng);
  for (uint32_t i = 0; i < pop.phones.size(); ++i) {
    Phone& p = pop.phones[i];
    p.id = i;
    p.join_s = joins[order[i]];
    p.kind = pop.nats[p.nat].kind;
    p.public_ip = nat_ip[p.nat];
    p.port = static_cast<uint16_t>(kFirstPort + i);
  }
  return pop;
}

}  // namespace otaswarm::sim

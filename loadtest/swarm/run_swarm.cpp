#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "common/config.h"
#include "common/json.h"
#include "loadtest/swarm/swarm.h"
#include "loadtest/swarm/tracker_directory.h"

namespace otaswarm::sim {

namespace {

using config::ConfigError;

constexpr const char* kUsage = R"(usage: otaswarm-loadtest swarm --scenario NAME --policy POLICY [--seed N] [--json]
    [--phones N] [--lan-pairing off|hint|address] [--punch-success KIND,KIND=P ...]
    [--relay-budget-bytes-per-second B] [--relay-session-bytes-per-second B] [--relay-max-allocations N]
    [--relay-session-ttl S] [--origin-policy JSON] [--tracker-bin PATH] [--calibration KEY=VALUE ...] [--list]
Simulates one release (flow level) with peer lists from a real otaswarm-tracker it starts on
127.0.0.1 (port 0). Saving = 1 - S3 bytes / client-server bytes. Relays are admitted by the rendezvous's RelayBudget
(the --relay-* flags mean what they mean for otaswarm-rendezvous). --origin-policy is PUT to the tracker's
/api/v1/releases/<ih>/origin-policy for policies that pace the origin (docs/origin-pacing.md).
Model: docs/simulation.md.
)";

constexpr uint64_t kDefaultSeed = 1;
constexpr uint32_t kMaxPhones = 50000;  // one loopback /16 per ISP and one port per phone

double parse_number(const std::string& key, const std::string& v, double lo, double hi) {
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size() && d >= lo && d <= hi) return d;
  } catch (const std::exception&) {
  }
  std::ostringstream os;
  os << "must be a number in [" << lo << ", " << hi << "], got \"" << v << "\"";
  throw ConfigError(key, os.str());
}

void print_list(const Calibration& cal) {
  std::cout << "scenarios:\n";
  for (const auto& s : builtin_scenarios(cal)) std::cout << "  " << s.name << ": " << s.description << "\n";
  std::cout << "policies:\n";
  for (const auto& p : builtin_policies()) std::cout << "  " << p.name << ": " << p.description << "\n";
}

std::string pct(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %%", v);
  return buf;
}

std::string mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// What-if runs (docs/simulation.md, sensitivity); the calibrated defaults are in model.h.
void apply_calibration(Calibration& cal, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) throw ConfigError("calibration", "expected KEY=VALUE");
  std::string k = kv.substr(0, eq);
  double v = parse_number("calibration", kv.substr(eq + 1), 0, 1e9);
  if (k == "wifi_down_mbit") cal.wifi_down_bps = v * kMbit;
  else if (k == "wifi_up_mbit") cal.wifi_up_bps = v * kMbit;
  else if (k == "wifi_channel_mbit") cal.wifi_channel_bps = v * kMbit;
  else if (k == "window_kib" && v > 0) cal.window_bytes = v * 1024;
  else if (k == "webseed_rtt_ms" && v > 0) cal.webseed_rtt_s = v / 1000;
  else if (k == "peer_rtt_ms" && v > 0) cal.peer_rtt_s = v / 1000;
  else if (k == "lan_rtt_ms" && v > 0) cal.lan_rtt_s = v / 1000;
  else if (k == "relay_rtt_ms" && v > 0) cal.relay_rtt_s = v / 1000;
  else if (k == "choke_interval_s" && v > 0) cal.choke_interval_s = v;
  else if (k == "upload_slots" && v >= 1) cal.upload_slots = static_cast<uint32_t>(v);
  else if (k == "max_peers" && v >= 1) cal.max_peers = static_cast<uint32_t>(v);
  else if (k == "numwant" && v >= 1) cal.numwant = static_cast<int32_t>(v);
  else if (k == "announce_interval_s" && v >= 10) cal.announce_interval_s = static_cast<uint32_t>(v);
  else if (k == "redial_interval_s" && v > 0) cal.redial_interval_s = v;
  else if (k == "nat_udp_timeout_s") cal.nat_udp_timeout_s = v;
  else if (k == "unassisted_open_share" && v <= 1) cal.unassisted_open_share = v;
  else if (k == "step_s" && v > 0) cal.step_s = v;
  else throw ConfigError("calibration", "unknown key or out-of-range value: " + kv);
}

}  // namespace

std::string to_json(const Result& r, const Calibration& cal) {
  Json o = Json::object();
  o["scenario"] = r.scenario;
  o["policy"] = r.policy;
  o["seed"] = r.seed;
  o["phones"] = r.phones;
  o["completed"] = r.completed;
  o["file_bytes"] = r.file_bytes;
  o["piece_bytes"] = r.piece_bytes;
  o["client_server_bytes"] = r.client_server_bytes;
  o["s3_bytes"] = r.s3_bytes;
  o["peer_bytes"] = r.peer_bytes;
  o["lan_bytes"] = r.bytes_by_type[static_cast<size_t>(ConnType::lan)];
  o["direct_bytes"] = r.bytes_by_type[static_cast<size_t>(ConnType::direct)];
  o["punched_bytes"] = r.bytes_by_type[static_cast<size_t>(ConnType::punched)];
  o["unassisted_bytes"] = r.bytes_by_type[static_cast<size_t>(ConnType::unassisted)];
  o["relayed_bytes"] = r.bytes_by_type[static_cast<size_t>(ConnType::relayed)];
  o["relay_capacity"] = r.relay_capacity;
  o["relay_sessions_peak"] = r.relay_sessions_peak;
  o["relay_session_bytes_per_s"] = r.relay_session_bytes_per_s;
  o["cross_isp_bytes"] = r.cross_isp_bytes;
  o["origin_policy"] = r.origin_policy;
  o["origin_granted_phone_seconds"] = r.origin_granted_s;
  o["origin_starved_phone_seconds"] = r.origin_starved_s;
  o["origin_grants_seen"] = r.origin_grants_seen;
  o["saving_pct"] = r.saving_pct;
  o["net_saving_pct"] = r.net_saving_pct;
  o["completion_p50_s"] = r.completion_p50_s;
  o["completion_p95_s"] = r.completion_p95_s;
  o["completion_max_s"] = r.completion_max_s;
  o["sim_end_s"] = r.sim_end_s;
  Json conns = Json::object();
  for (size_t t = 0; t < kConnTypes; ++t) conns[to_string(static_cast<ConnType>(t))] = r.connections_by_type[t];
  o["connections"] = conns;
  o["seed_pairs_closed"] = r.seed_pairs_closed;
  o["punch_attempts"] = r.punch_attempts;
  o["punch_successes"] = r.punch_successes;
  o["relay_refused"] = r.relay_refused;
  o["hairpin_failures"] = r.hairpin_failures;
  o["unreachable_pairs"] = r.unreachable_pairs;
  o["announces"] = r.announces;
  o["announce_errors"] = r.announce_errors;
  if (r.announce_errors) o["first_announce_error"] = r.first_announce_error;
  o["peers_handed_out"] = r.peers_handed_out;
  o["lan_pairing"] = r.lan_pairing;
  Json c = Json::object();
  c["wifi_down_mbit"] = cal.wifi_down_bps / kMbit;
  c["wifi_up_mbit"] = cal.wifi_up_bps / kMbit;
  c["wifi_channel_mbit"] = cal.wifi_channel_bps / kMbit;
  c["window_kib"] = cal.window_bytes / 1024;
  c["webseed_rtt_ms"] = cal.webseed_rtt_s * 1000;
  c["peer_rtt_ms"] = cal.peer_rtt_s * 1000;
  c["lan_rtt_ms"] = cal.lan_rtt_s * 1000;
  c["relay_rtt_ms"] = cal.relay_rtt_s * 1000;
  c["webseed_mbit_per_connection"] = cal.per_connection_bps(cal.webseed_rtt_s) / kMbit;
  c["peer_mbit_per_connection"] = cal.per_connection_bps(cal.peer_rtt_s) / kMbit;
  c["choke_interval_s"] = cal.choke_interval_s;
  c["upload_slots"] = cal.upload_slots;
  c["max_peers"] = cal.max_peers;
  c["numwant"] = cal.numwant;
  c["announce_interval_s"] = cal.announce_interval_s;
  c["redial_interval_s"] = cal.redial_interval_s;
  c["nat_udp_timeout_s"] = cal.nat_udp_timeout_s;
  c["unassisted_open_share"] = cal.unassisted_open_share;
  c["step_s"] = cal.step_s;
  o["calibration"] = c;
  return json_dump(o);
}

std::string to_table(const Result& r, double wall_seconds) {
  std::ostringstream os;
  auto row = [&](const std::string& k, const std::string& v) {
    os << "  " << k << std::string(k.size() < 24 ? 24 - k.size() : 1, ' ') << v << "\n";
  };
  os << "swarm simulation: scenario " << r.scenario << ", policy " << r.policy << ", seed " << r.seed << "\n";
  row("phones (completed)", std::to_string(r.phones) + " (" + std::to_string(r.completed) + ")");
  row("client-server bytes", mb(r.client_server_bytes));
  row("S3 bytes", mb(r.s3_bytes));
  row("saving vs client-server", pct(r.saving_pct));
  row("net saving (- relay)", pct(r.net_saving_pct));
  row("peer bytes", mb(r.peer_bytes));
  for (size_t t = 0; t < kConnTypes; ++t)
    row(std::string("  ") + to_string(static_cast<ConnType>(t)),
        mb(r.bytes_by_type[t]) + " over " + std::to_string(r.connections_by_type[t]) + " connections");
  row("cross-ISP bytes", mb(r.cross_isp_bytes));
  row("relay sessions (peak / capacity)", std::to_string(r.relay_sessions_peak) + " / " + std::to_string(r.relay_capacity));
  row("punch attempts (ok)", std::to_string(r.punch_attempts) + " (" + std::to_string(r.punch_successes) + ")");
  row("completion p50 / p95", std::to_string(static_cast<int>(r.completion_p50_s + 0.5)) + " s / " +
                                  std::to_string(static_cast<int>(r.completion_p95_s + 0.5)) + " s");
  row("announces (errors)", std::to_string(r.announces) + " (" + std::to_string(r.announce_errors) + ")" +
                                (r.announce_errors ? " first: " + r.first_announce_error : ""));
  row("LAN pairing", r.lan_pairing);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", wall_seconds);
  row("wall time", buf);
  return os.str();
}

int run_swarm(const std::vector<std::string>& args) {
  Calibration cal;
  std::string scenario_name, policy_name, tracker_bin, lan_mode, origin_policy;
  uint64_t seed = kDefaultSeed;
  bool json = false;
  std::optional<uint32_t> phones;
  rendezvous::RelayBudgetConfig relay_budget = rendezvous::kDefaultRelayBudget;
  std::vector<std::string> punch_overrides, calibration;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw ConfigError(a.substr(2), "needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--list") {
      print_list(cal);
      return 0;
    } else if (a == "--scenario") {
      scenario_name = value();
    } else if (a == "--policy") {
      policy_name = value();
    } else if (a == "--seed") {
      seed = static_cast<uint64_t>(parse_number("seed", value(), 0, 1e15));
    } else if (a == "--json") {
      json = true;
    } else if (a == "--phones") {
      phones = static_cast<uint32_t>(parse_number("phones", value(), 1, kMaxPhones));
    } else if (a == "--lan-pairing") {
      lan_mode = value();
    } else if (a == "--punch-success") {
      punch_overrides.push_back(value());
    } else if (a == "--relay-budget-bytes-per-second") {
      relay_budget.release_bytes_per_second = parse_number("relay-budget-bytes-per-second", value(), 0, 1e12);
    } else if (a == "--relay-session-bytes-per-second") {
      relay_budget.session_bytes_per_second = parse_number("relay-session-bytes-per-second", value(), 1, 1e12);
    } else if (a == "--relay-max-allocations") {
      relay_budget.max_allocations = static_cast<size_t>(parse_number("relay-max-allocations", value(), 0, 1e6));
    } else if (a == "--relay-session-ttl") {
      relay_budget.session_ttl_ms = static_cast<int64_t>(parse_number("relay-session-ttl", value(), 10, 86400) * 1000);
    } else if (a == "--calibration") {
      calibration.push_back(value());
    } else if (a == "--tracker-bin") {
      tracker_bin = value();
    } else if (a == "--origin-policy") {
      origin_policy = value();
    } else {
      throw ConfigError(a, "unknown argument (see swarm --help)");
    }
  }
  for (const auto& kv : calibration) apply_calibration(cal, kv);
  if (scenario_name.empty()) throw ConfigError("scenario", "required (--list shows the built-in ones)");
  if (policy_name.empty()) throw ConfigError("policy", "required (--list shows the built-in ones)");
  auto scenario = find_scenario(scenario_name, cal);
  if (!scenario) throw ConfigError("scenario", "unknown scenario \"" + scenario_name + "\" (--list shows them)");
  auto policy = find_policy(policy_name);
  if (!policy) throw ConfigError("policy", "unknown policy \"" + policy_name + "\" (--list shows them)");
  if (phones) scenario->phones = *phones;
  policy->relay_budget = relay_budget;
  if (!origin_policy.empty()) policy->origin_policy = origin_policy;
  if (!lan_mode.empty()) {
    if (lan_mode == "off") policy->lan = LanPairing::off;
    else if (lan_mode == "hint") policy->lan = LanPairing::hint;
    else if (lan_mode == "address") policy->lan = LanPairing::address;
    else throw ConfigError("lan-pairing", "must be off, hint or address");
  }
  for (const auto& o : punch_overrides) {
    auto comma = o.find(','), eq = o.find('=');
    if (comma == std::string::npos || eq == std::string::npos || eq < comma)
      throw ConfigError("punch-success", "expected KIND,KIND=P, e.g. port-restricted,symmetric=0.5");
    auto ka = parse_nat_kind(o.substr(0, comma));
    auto kb = parse_nat_kind(o.substr(comma + 1, eq - comma - 1));
    if (!ka || !kb)
      throw ConfigError("punch-success", "NAT kinds are public, full-cone, restricted, port-restricted, symmetric");
    double p = parse_number("punch-success", o.substr(eq + 1), 0, 1);
    policy->punch_success[static_cast<size_t>(*ka)][static_cast<size_t>(*kb)] = p;
    policy->punch_success[static_cast<size_t>(*kb)][static_cast<size_t>(*ka)] = p;
  }

  auto t0 = std::chrono::steady_clock::now();
  SimOptions opts{*scenario, *policy, cal, seed};
  Population pop = make_population(opts.scenario, seed);
  Result r;
  if (opts.policy.use_peers) {
    TrackerDirectory dir(opts.scenario, opts.policy, cal, pop, tracker_bin.empty() ? sibling_tracker_binary() : tracker_bin,
                         seed);
    r = simulate(opts, pop, &dir);
    dir.stop();
  } else {
    r = simulate(opts, pop, nullptr);
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (json) std::cout << to_json(r, cal) << std::endl;
  else std::cout << to_table(r, wall);
  return r.completed == r.phones ? 0 : 1;
}

}  // namespace otaswarm::sim

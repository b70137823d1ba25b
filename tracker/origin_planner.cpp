#include "tracker/origin_planner.h"

#include <algorithm>
#include <cstring>

#include "common/json.h"

namespace otaswarm {

namespace {
constexpr int64_t kSweepEveryMs = 1000;
constexpr int64_t kMsPerS = 1000;
constexpr uint64_t kStarvedShare = 2;  // "too little progress" = under floor / kStarvedShare
}  // namespace

const char* to_string(OriginMode m) { return m == OriginMode::greedy ? "greedy" : "paced"; }

std::optional<OriginMode> parse_origin_mode(std::string_view s) {
  if (s == "greedy") return OriginMode::greedy;
  if (s == "paced") return OriginMode::paced;
  return std::nullopt;
}

const char* to_string(GrantReason r) {
  switch (r) {
    case GrantReason::none: return "none";
    case GrantReason::greedy: return "greedy";
    case GrantReason::paced: return "paced";
    case GrantReason::starved: return "starved";
    case GrantReason::denied: return "denied";
  }
  return "?";
}

std::string origin_policy_json(const OriginPolicy& p) {
  Json o = Json::object();
  o["policy"] = to_string(p.mode);
  o["grants"] = p.grants;
  o["origin_bytes_per_second"] = p.origin_bytes_per_second;
  o["starvation_floor_bytes_per_second"] = p.starvation_floor;
  o["starvation_delay_seconds"] = p.starvation_delay_s;
  o["recheck_seconds"] = p.recheck_s;
  return json_dump(o);
}

std::optional<std::string> parse_origin_policy(std::string_view text, OriginPolicy& inout) {
  std::string why;
  auto parsed = json_parse(text, why);
  if (!parsed || !parsed->is_object()) return "body must be a JSON object";
  const Json& doc = *parsed;
  OriginPolicy p = inout;
  auto uint_field = [&](const Json& v, const std::string& k, uint64_t max, uint64_t& out) -> std::optional<std::string> {
    if (!v.is_number_unsigned()) return k + " must be a non-negative integer";
    uint64_t n = v.get<uint64_t>();
    if (n > max) return k + " must be at most " + std::to_string(max);
    out = n;
    return std::nullopt;
  };
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    uint64_t n = 0;
    std::optional<std::string> err;
    if (k == "policy") {
      auto m = it.value().is_string() ? parse_origin_mode(it.value().get<std::string>()) : std::nullopt;
      if (!m) return std::string("policy must be \"greedy\" or \"paced\"");
      p.mode = *m;
      continue;
    } else if (k == "grants") {
      if (!(err = uint_field(it.value(), k, kMaxGrants, n))) p.grants = static_cast<uint32_t>(n);
    } else if (k == "origin_bytes_per_second") {
      if (!(err = uint_field(it.value(), k, UINT32_MAX, n))) p.origin_bytes_per_second = n;
    } else if (k == "starvation_floor_bytes_per_second") {
      if (!(err = uint_field(it.value(), k, UINT32_MAX, n))) p.starvation_floor = n;
    } else if (k == "starvation_delay_seconds") {
      if (!(err = uint_field(it.value(), k, kMaxStarvationDelayS, n))) p.starvation_delay_s = static_cast<uint32_t>(n);
    } else if (k == "recheck_seconds") {
      if (!(err = uint_field(it.value(), k, kMaxRecheckS, n))) p.recheck_s = static_cast<uint32_t>(std::max<uint64_t>(1, n));
    } else {
      return "unknown key: " + k;
    }
    if (err) return err;
  }
  inout = p;
  return std::nullopt;
}

OriginPlanner::OriginPlanner(const Clock& clock, OriginPlannerLimits limits)
    : clock_(clock), limits_(limits), grant_limiter_(limits.grants_per_device, limits.max_rate_keys, clock) {}

uint32_t OriginPlanner::grant_budget(const OriginPolicy& p, uint32_t leechers) {
  if (p.grants) return p.grants;
  return std::max<uint32_t>(1, (leechers + kLeechersPerGrant - 1) / kLeechersPerGrant);
}

OriginPlanner::Swarm& OriginPlanner::swarm(const store::InfoHash& h) {
  {
    std::shared_lock lk(mu_);
    if (auto it = swarms_.find(h); it != swarms_.end()) return *it->second;
  }
  std::unique_lock lk(mu_);
  auto& slot = swarms_[h];
  if (!slot) slot = std::make_unique<Swarm>();
  return *slot;
}

void OriginPlanner::release(Swarm& s, Device& d) {
  if (!d.granted) return;
  (d.reason == GrantReason::paced ? s.paced_held : s.starved_held)--;
  d.granted = false;
  d.reason = GrantReason::none;
}

void OriginPlanner::sweep(Swarm& s, int64_t now, int64_t lease_ms) {
  s.last_sweep_ms = now;
  for (auto it = s.devices.begin(); it != s.devices.end();) {
    if (now - it->second.seen_ms > lease_ms) {
      release(s, it->second);
      it = s.devices.erase(it);
    } else {
      ++it;
    }
  }
}

bool OriginPlanner::observe_progress(Device& d, const OriginPolicy& pol, const OriginObservation& obs, int64_t now) {
  // Progress per re-announce against half the floor over the recheck period the device was
  // told: the tracker cannot tell peer bytes from origin bytes, and the device's own valve
  // already tops up to the full floor in real time; this catches the ones that get far less.
  const uint64_t want = pol.starvation_floor * pol.recheck_s / kStarvedShare;
  if (d.seen && obs.event == store::Event::none) {
    bool slow = obs.left >= d.last_left || d.last_left - obs.left < want;
    d.slow_announces = slow ? d.slow_announces + 1 : 0;
  } else {
    d.slow_announces = 0;
  }
  d.seen = true;
  d.last_left = obs.left;
  d.seen_ms = now;
  d.lan = obs.lan;
  return obs.peers == 0 || (d.slow_announces > 0 && uint64_t{d.slow_announces} * pol.recheck_s >= pol.starvation_delay_s);
}

OriginAdvice OriginPlanner::advise(const store::InfoHash& h, const OriginPolicy& pol, const OriginObservation& obs) {
  OriginAdvice a;
  a.recheck_s = pol.recheck_s;
  a.starvation_floor = pol.starvation_floor;
  a.starvation_delay_s = pol.starvation_delay_s;
  if (pol.mode == OriginMode::greedy) {
    a.grant = true;
    a.reason = GrantReason::greedy;
    return a;
  }
  const int64_t now = clock_.mono_ms();
  const int64_t lease_ms = int64_t{limits_.lease_rechecks} * std::max<uint32_t>(1, pol.recheck_s) * kMsPerS;
  Swarm& s = swarm(h);
  std::lock_guard lk(s.mu);
  auto finish = [&]() {
    s.st.outstanding = s.paced_held + s.starved_held;
    return a;
  };
  if (now - s.last_sweep_ms >= kSweepEveryMs) sweep(s, now, lease_ms);
  std::string key(obs.device);
  if (obs.event == store::Event::stopped || obs.left == 0) {
    // Done or gone: its grant goes back to the pool at once.
    if (auto it = s.devices.find(key); it != s.devices.end()) {
      release(s, it->second);
      s.devices.erase(it);
    }
    return finish();
  }
  auto it = s.devices.find(key);
  if (it == s.devices.end()) {
    if (s.devices.size() >= limits_.max_devices_per_release) {
      // Cannot track more: fail open rather than leave a device without origin.
      a.grant = true;
      a.reason = GrantReason::starved;
      s.st.given_starved++;
      return finish();
    }
    it = s.devices.emplace(std::move(key), Device{}).first;
  }
  Device& d = it->second;
  const bool starved = observe_progress(d, pol, obs, now);
  const uint32_t budget = grant_budget(pol, obs.leechers);
  const uint64_t paced_rate = pol.origin_bytes_per_second ? std::max<uint64_t>(1, pol.origin_bytes_per_second / budget) : 0;

  if (d.granted) {
    if (d.reason == GrantReason::paced && s.paced_held > budget) {
      release(s, d);  // the swarm shrank: fewer seeding grants needed
    } else if (d.reason == GrantReason::starved && !starved) {
      release(s, d);  // it has peers again; its own floor check (the advice) still guards it
    } else {
      a.grant = true;
      a.reason = d.reason;
      a.rate = d.reason == GrantReason::paced ? paced_rate : 0;
      return finish();
    }
  }
  auto lan_has_grant = [&]() {
    if (!d.lan) return false;
    for (const auto& [k, o] : s.devices)
      if (&o != &d && o.granted && o.reason == GrantReason::paced && o.lan == d.lan) return true;
    return false;
  };
  GrantReason want_reason = starved                                      ? GrantReason::starved
                            : (s.paced_held < budget && !lan_has_grant()) ? GrantReason::paced
                                                                         : GrantReason::none;
  if (want_reason == GrantReason::none) return finish();
  uint64_t rk = rate_key(obs.device);
  uint64_t hk = 0;
  std::memcpy(&hk, h.data(), sizeof(hk));
  if (!grant_limiter_.allow(rk ^ hk)) {
    a.reason = GrantReason::denied;
    s.st.denied++;
    return finish();
  }
  d.granted = true;
  d.reason = want_reason;
  a.grant = true;
  a.reason = want_reason;
  if (want_reason == GrantReason::paced) {
    s.paced_held++;
    s.st.given_paced++;
    a.rate = paced_rate;
  } else {
    s.starved_held++;
    s.st.given_starved++;
  }
  return finish();
}

OriginStats OriginPlanner::stats(const store::InfoHash& h) const {
  std::shared_lock lk(mu_);
  auto it = swarms_.find(h);
  if (it == swarms_.end()) return {};
  std::lock_guard slk(it->second->mu);
  return it->second->st;
}

void OriginPlanner::forget(const store::InfoHash& h) {
  std::unique_lock lk(mu_);
  swarms_.erase(h);
}

}  // namespace otaswarm

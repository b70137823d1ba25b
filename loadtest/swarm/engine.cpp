#include "loadtest/swarm/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <queue>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace otaswarm::sim {

const char* to_string(ConnType t) {
  switch (t) {
    case ConnType::lan: return "lan";
    case ConnType::direct: return "direct";
    case ConnType::punched: return "punched";
    case ConnType::unassisted: return "unassisted";
    case ConnType::relayed: return "relayed";
  }
  return "?";
}

namespace {

// A release that has not finished after this much simulated time is a bug, not a result.
constexpr double kMaxSimSeconds = 7 * 24 * 3600.0;
constexpr uint32_t kOptimisticSlots = 1;
constexpr int32_t kNoPiece = -1;
constexpr uint64_t kUnassistedSalt = 0xA5A5F00DD00DA5A5ull;  // separate draw from the punch outcome
// Origin pacing, the phone's side (docs/origin-pacing.md). Until the tracker's first advice the
// phone uses these (the tracker's defaults); a tracker that never answers leaves it on them.
constexpr double kDefaultStarvationFloor = 1'250'000;  // bytes/s
constexpr double kDefaultStarvationDelayS = 3;
constexpr uint32_t kDefaultRecheckS = 15;
constexpr double kPeerRateTauS = 1.0;  // smoothing of the measured peer rate

enum class State : uint8_t { waiting, leeching, seeding, gone };

struct Dir {
  int32_t piece = kNoPiece;
  bool unchoked = false;
  double interval_bytes = 0;  // received over this direction since the last choke round
};

struct Conn {
  uint32_t a = 0, b = 0;
  ConnType type = ConnType::direct;
  bool alive = true;
  bool cross_isp = false;
  Dir dir[2];  // dir[0]: a sends to b; dir[1]: b sends to a
};

struct PhoneState {
  State state = State::waiting;
  std::vector<uint8_t> have, inflight;
  std::vector<uint32_t> progress;  // bytes of each piece received so far
  std::vector<uint16_t> avail;     // how many connected neighbours have each piece
  uint32_t have_count = 0;
  uint64_t downloaded = 0, uploaded = 0;
  int32_t s3_piece = kNoPiece;
  std::vector<uint32_t> conns;
  std::vector<uint32_t> known;                      // peers learned from the directory, sorted
  std::unordered_map<uint32_t, double> dialed;      // peer → last time this phone sent it a SYN
  double complete_s = -1, stop_s = kForever, next_announce_s = kForever, next_redial_s = kForever;
  double next_choke_s = kForever;  // each client runs its own choke timer, not in step with the others
  // Origin pacing: the tracker's last advice and the phone's own starvation valve.
  bool origin_grant = false;
  double origin_rate = 0;  // bytes/s cap while granted, 0 = none
  double floor = kDefaultStarvationFloor, delay_s = kDefaultStarvationDelayS;
  uint32_t recheck_s = kDefaultRecheckS;
  double peer_rate = 0, step_peer_bytes = 0;  // measured from peers only (S3 excluded)
  double below_since = -1;                    // since when the peer rate is under the floor
  bool starved = false;
};

struct Flow {
  int64_t conn = -1;  // -1: the S3 web seed
  uint8_t dir = 0;
  uint32_t sender = 0, receiver = 0;
  bool internet = true;  // crosses the access links (false: LAN, inside the household)
  double cap = 0, rate = 0;
};

uint64_t pair_key(uint32_t a, uint32_t b) {
  if (a > b) std::swap(a, b);
  return uint64_t{a} << 32 | b;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double idx = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

class Engine {
 public:
  Engine(const SimOptions& o, const Population& pop, Directory* dir)
      : o_(o), cal_(o.cal), pol_(o.policy), pop_(pop), dir_(dir), rng_(o.seed ^ 0x5157A12Dull),
        relay_budget_(o.policy.relay_budget) {
    const Scenario& s = o.scenario;
    pieces_ = static_cast<uint32_t>((s.file_bytes + s.piece_bytes - 1) / s.piece_bytes);
    ph_.resize(pop.phones.size());
    for (auto& p : ph_) {
      p.have.assign(pieces_, 0);
      p.inflight.assign(pieces_, 0);
      p.progress.assign(pieces_, 0);
      p.avail.assign(pieces_, 0);
    }
    for (const auto& p : pop.phones) {
      public_index_[addr_key(parse_ipv4(p.public_ip), p.port)] = p.id;
      if (p.lan >= 0) lan_index_[lan_key(p.lan, parse_ipv4(p.lan_ip), p.port)] = p.id;
    }
    r_.scenario = s.name;
    r_.policy = pol_.name;
    r_.seed = o.seed;
    r_.phones = static_cast<uint32_t>(pop.phones.size());
    r_.pieces = pieces_;
    r_.file_bytes = s.file_bytes;
    r_.piece_bytes = s.piece_bytes;
    r_.client_server_bytes = s.file_bytes * pop.phones.size();
    if (pol_.relay) {
      r_.relay_capacity = relay_budget_.capacity();
      r_.relay_session_bytes_per_s = static_cast<uint64_t>(pol_.relay_budget.session_bytes_per_second);
    }
    r_.lan_pairing = to_string(pol_.lan);
    r_.origin_policy = pol_.paced_origin ? "paced" : "greedy";
  }

  Result run() {
    if (pol_.use_peers && !dir_) throw std::logic_error("a peer policy needs a directory");
    const double dt = cal_.step_s;
    uint32_t done = 0;
    size_t next_join = 0;
    std::vector<uint32_t> join_order(ph_.size());
    for (uint32_t i = 0; i < join_order.size(); ++i) join_order[i] = i;
    std::stable_sort(join_order.begin(), join_order.end(),
                     [&](uint32_t a, uint32_t b) { return pop_.phones[a].join_s < pop_.phones[b].join_s; });
    double now = 0;
    for (; done < ph_.size() && now < kMaxSimSeconds; now += dt) {
      now_ = now;
      while (next_join < join_order.size() && pop_.phones[join_order[next_join]].join_s <= now) {
        uint32_t id = join_order[next_join++];
        ph_[id].state = State::leeching;
        ph_[id].next_choke_s = now + std::uniform_real_distribution<double>(0, cal_.choke_interval_s)(rng_);
        if (pol_.use_peers) {
          announce(id, Event::started);
          ph_[id].next_redial_s = now + cal_.redial_interval_s;
        }
      }
      if (pol_.use_peers) {
        for (uint32_t id = 0; id < ph_.size(); ++id) {
          PhoneState& p = ph_[id];
          if (p.state == State::seeding && now >= p.stop_s) leave(id);
          if (p.state == State::waiting || p.state == State::gone) continue;
          if (now >= p.next_announce_s) announce(id, Event::none);
          if (now >= p.next_redial_s) {
            p.next_redial_s = now + cal_.redial_interval_s;
            redial(id);
          }
          if (now >= p.next_choke_s) {
            p.next_choke_s = now + cal_.choke_interval_s;
            choke_round(id);
          }
        }
      }
      step(dt, done);
    }
    r_.sim_end_s = now;
    if (pol_.use_peers)
      for (uint32_t id = 0; id < ph_.size(); ++id)
        if (ph_[id].state == State::leeching || ph_[id].state == State::seeding) leave(id);
    finish();
    return r_;
  }

 private:
  static uint64_t addr_key(uint32_t ip, uint16_t port) { return uint64_t{ip} << 16 | port; }
  static uint64_t lan_key(int32_t lan, uint32_t ip, uint16_t port) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(lan)) << 48) ^ (uint64_t{ip & 0xffffffu} << 16) ^ port;
  }
  uint64_t piece_size(uint32_t piece) const {
    uint64_t start = uint64_t{piece} * o_.scenario.piece_bytes;
    return std::min<uint64_t>(o_.scenario.piece_bytes, o_.scenario.file_bytes - start);
  }
  uint64_t left_of(uint32_t id) const {
    uint64_t got = 0;
    for (uint32_t i = 0; i < pieces_; ++i)
      if (ph_[id].have[i]) got += piece_size(i);
    return o_.scenario.file_bytes - got;
  }

  void announce(uint32_t id, Event e) {
    PhoneState& p = ph_[id];
    auto reply = dir_->announce(pop_.phones[id], e, p.downloaded, p.uploaded, e == Event::stopped ? 0 : left_of(id));
    r_.announces++;
    if (!reply.ok && r_.announce_errors++ == 0) r_.first_announce_error = reply.error;
    uint32_t interval = reply.ok && reply.interval ? reply.interval : cal_.announce_interval_s;
    if (pol_.paced_origin) {
      if (reply.ok && reply.has_origin) {
        p.origin_grant = reply.grant;
        p.origin_rate = reply.rate;
        p.floor = reply.starvation_floor;
        p.delay_s = reply.starvation_delay_s;
        if (reply.recheck_s) p.recheck_s = reply.recheck_s;
        r_.origin_grants_seen += reply.grant;
      } else {
        p.origin_grant = false;  // no advice: the phone's own valve decides
      }
      // A leecher re-asks every recheck period, so freed grants find a new holder quickly.
      if (p.state == State::leeching) interval = std::min(interval, p.recheck_s);
    }
    p.next_announce_s = now_ + interval;
    if (e == Event::stopped || !reply.ok) return;
    std::vector<std::pair<uint32_t, bool>> found;  // (phone, handed out with its LAN address)
    for (const auto& peer : reply.peers) {
      const Phone& me = pop_.phones[id];
      if (me.lan >= 0) {
        if (auto it = lan_index_.find(lan_key(me.lan, peer.ip, peer.port)); it != lan_index_.end()) {
          found.push_back({it->second, true});
          continue;
        }
      }
      if (auto it = public_index_.find(addr_key(peer.ip, peer.port)); it != public_index_.end())
        found.push_back({it->second, false});
    }
    r_.peers_handed_out += found.size();
    // The tracker's order is random; sorting keeps a run a function of the seed.
    std::sort(found.begin(), found.end());
    for (auto [peer, via_lan] : found) {
      if (peer == id) continue;
      auto it = std::lower_bound(p.known.begin(), p.known.end(), peer);
      if (it == p.known.end() || *it != peer) p.known.insert(it, peer);
      if (via_lan) lan_known_.insert(pair_key(id, peer));
      try_connect(id, peer);
    }
  }

  void redial(uint32_t id) {
    for (uint32_t peer : ph_[id].known) try_connect(id, peer);
  }

  bool connected(uint32_t a, uint32_t b) const { return conn_index_.count(pair_key(a, b)) != 0; }

  int64_t now_ms() const { return static_cast<int64_t>(now_ * 1000.0); }
  static std::string relay_pair(uint32_t a, uint32_t b) {
    return std::to_string(std::min(a, b)) + "\n" + std::to_string(std::max(a, b));
  }
  // The rendezvous's admission (rendezvous::RelayBudget), keyed like it: release and device pair.
  bool admit_relay(uint32_t a, uint32_t b) {
    if (!pol_.relay || !relay_budget_.admit(o_.scenario.name, relay_pair(a, b), now_ms())) return false;
    r_.relay_sessions_peak =
        std::max<uint64_t>(r_.relay_sessions_peak, relay_budget_.active(o_.scenario.name, now_ms()));
    return true;
  }

  void try_connect(uint32_t a, uint32_t b) {
    PhoneState& pa = ph_[a];
    PhoneState& pb = ph_[b];
    if (pb.state != State::leeching && pb.state != State::seeding) return;
    if (connected(a, b) || (pa.state == State::seeding && pb.state == State::seeding)) return;
    uint64_t key = pair_key(a, b);
    // A LAN peer costs no access-link capacity, so a client takes it even with all slots used.
    if (lan_known_.count(key)) return open(a, b, ConnType::lan);
    if (pa.conns.size() >= cal_.max_peers || pb.conns.size() >= cal_.max_peers) return;
    if (failed_.count(key)) return;
    const Phone& A = pop_.phones[a];
    const Phone& B = pop_.phones[b];
    if (A.nat == B.nat) {
      // Both behind one public address: only a hairpinning NAT turns that address back inwards.
      if (pop_.nats[A.nat].hairpin) return open(a, b, ConnType::direct);
      r_.hairpin_failures++;
      if (admit_relay(a, b)) return open(a, b, ConnType::relayed);
      if (pol_.relay) r_.relay_refused++;
      failed_.insert(key);
      return;
    }
    nat::Decision d = nat::decide(nat_class_of(A.kind), nat_class_of(B.kind));
    if (d == nat::Decision::direct) return open(a, b, ConnType::direct);
    if (d != nat::Decision::relay && pol_.punching) {
      r_.punch_attempts++;
      double p = pol_.punch_success[static_cast<size_t>(A.kind)][static_cast<size_t>(B.kind)];
      if (pair_draw(key) < p) {
        r_.punch_successes++;
        return open(a, b, ConnType::punched);
      }
    } else if (d == nat::Decision::punch_simultaneous && !pol_.punching &&
               pair_draw(key ^ kUnassistedSalt) < cal_.unassisted_open_share) {
      // Uncoordinated simultaneous open: both cone NATs keep the filter entry from this side's
      // own SYN, so the other side's SYN passes if it comes within the UDP timeout.
      pa.dialed[b] = now_;
      auto it = pb.dialed.find(a);
      if (it != pb.dialed.end() && now_ - it->second <= cal_.nat_udp_timeout_s)
        return open(a, b, ConnType::unassisted);
      return;
    }
    if (admit_relay(a, b)) return open(a, b, ConnType::relayed);
    if (pol_.relay) r_.relay_refused++;
    r_.unreachable_pairs++;
    failed_.insert(key);
  }

  // One fixed draw per pair, so a pair's punch outcome does not depend on who asks first.
  double pair_draw(uint64_t key) const {
    std::mt19937_64 g(o_.seed * 0x9E3779B97F4A7C15ull ^ key);
    return std::uniform_real_distribution<double>(0.0, 1.0)(g);
  }

  void open(uint32_t a, uint32_t b, ConnType t) {
    Conn c;
    c.a = a;
    c.b = b;
    c.type = t;
    c.cross_isp = pop_.phones[a].isp != pop_.phones[b].isp && t != ConnType::lan;
    uint32_t idx = static_cast<uint32_t>(conns_.size());
    conns_.push_back(c);
    conn_index_[pair_key(a, b)] = idx;
    ph_[a].conns.push_back(idx);
    ph_[b].conns.push_back(idx);
    for (uint32_t i = 0; i < pieces_; ++i) {
      ph_[a].avail[i] += ph_[b].have[i];
      ph_[b].avail[i] += ph_[a].have[i];
    }
    // A client with a free upload slot unchokes a new interested peer at once (a LAN peer always).
    for (uint8_t d = 0; d < 2; ++d) {
      uint32_t sender = d == 0 ? a : b;
      if (t == ConnType::lan || unchoked_count(sender) < cal_.upload_slots + kOptimisticSlots)
        conns_[idx].dir[d].unchoked = true;
    }
    r_.connections_by_type[static_cast<size_t>(t)]++;
  }

  // Unchoked internet peers: the ones that count against the upload slots.
  uint32_t unchoked_count(uint32_t id) const {
    uint32_t n = 0;
    for (uint32_t idx : ph_[id].conns)
      n += conns_[idx].type != ConnType::lan && conns_[idx].dir[conns_[idx].a == id ? 0 : 1].unchoked;
    return n;
  }

  void close(uint32_t idx) {
    Conn& c = conns_[idx];
    if (!c.alive) return;
    c.alive = false;
    conn_index_.erase(pair_key(c.a, c.b));
    for (int d = 0; d < 2; ++d) {
      uint32_t recv = d == 0 ? c.b : c.a;
      if (c.dir[d].piece != kNoPiece) ph_[recv].inflight[static_cast<size_t>(c.dir[d].piece)] = 0;
      c.dir[d].piece = kNoPiece;
    }
    for (uint32_t i = 0; i < pieces_; ++i) {
      ph_[c.a].avail[i] -= ph_[c.b].have[i];
      ph_[c.b].avail[i] -= ph_[c.a].have[i];
    }
    for (uint32_t side : {c.a, c.b}) {
      auto& v = ph_[side].conns;
      v.erase(std::remove(v.begin(), v.end(), idx), v.end());
    }
  }

  void leave(uint32_t id) {
    PhoneState& p = ph_[id];
    p.state = State::gone;
    for (uint32_t idx : std::vector<uint32_t>(p.conns)) close(idx);
    announce(id, Event::stopped);
    p.next_announce_s = kForever;
  }

  // Tit-for-tat: leechers unchoke who gave them most, seeders rotate; plus one optimistic slot.
  // Upload slots divide the access uplink, which a LAN sibling does not use: LAN peers are
  // unchoked outside them (else punched internet peers crowd the 24 Mbit/s sibling out).
  void choke_round(uint32_t id) {
    {
      PhoneState& p = ph_[id];
      if (p.state != State::leeching && p.state != State::seeding) return;
      // A relayed pair in use renews its slot, as a client re-asks the rendezvous; a slot that
      // lapsed and cannot be had again ends the relay.
      for (uint32_t idx : std::vector<uint32_t>(p.conns)) {
        const Conn& c = conns_[idx];
        if (c.type == ConnType::relayed && c.a == id && !admit_relay(c.a, c.b)) close(idx);
      }
      std::vector<std::pair<double, uint32_t>> cand;  // (score, conn)
      for (uint32_t idx : p.conns) {
        Conn& c = conns_[idx];
        int out = c.a == id ? 0 : 1;
        c.dir[out].unchoked = false;
        uint32_t other = out == 0 ? c.b : c.a;
        if (ph_[other].state != State::leeching || p.have_count == 0) continue;
        if (c.type == ConnType::lan) {
          c.dir[out].unchoked = true;
          continue;
        }
        double score = p.state == State::seeding ? std::uniform_real_distribution<double>(0, 1)(rng_)
                                                 : c.dir[1 - out].interval_bytes;
        cand.push_back({score, idx});
      }
      for (uint32_t idx : p.conns) conns_[idx].dir[conns_[idx].a == id ? 1 : 0].interval_bytes = 0;
      std::stable_sort(cand.begin(), cand.end(), [](auto& x, auto& y) { return x.first > y.first; });
      size_t regular = std::min<size_t>(cal_.upload_slots, cand.size());
      for (size_t i = 0; i < regular; ++i) {
        Conn& c = conns_[cand[i].second];
        c.dir[c.a == id ? 0 : 1].unchoked = true;
      }
      for (uint32_t k = 0; k < kOptimisticSlots && cand.size() > regular; ++k) {
        size_t pick = regular + std::uniform_int_distribution<size_t>(0, cand.size() - regular - 1)(rng_);
        Conn& c = conns_[cand[pick].second];
        c.dir[c.a == id ? 0 : 1].unchoked = true;
        std::swap(cand[pick], cand[regular]);
        ++regular;
      }
      // A choked direction gives its piece back; the bytes already received stay for any source.
      for (uint32_t idx : p.conns) {
        Conn& c = conns_[idx];
        Dir& out = c.dir[c.a == id ? 0 : 1];
        if (out.unchoked || out.piece == kNoPiece) continue;
        ph_[c.a == id ? c.b : c.a].inflight[static_cast<size_t>(out.piece)] = 0;
        out.piece = kNoPiece;
      }
    }
  }

  // Rarest first among what `sender` has (all, for S3) and `recv` lacks and is not already
  // fetching; partially received pieces first, random among equals.
  int32_t pick(uint32_t recv, int64_t sender) {
    PhoneState& r = ph_[recv];
    const std::vector<uint8_t>* has = sender >= 0 ? &ph_[static_cast<size_t>(sender)].have : nullptr;
    uint32_t start = std::uniform_int_distribution<uint32_t>(0, pieces_ - 1)(rng_);
    int32_t best = kNoPiece;
    uint64_t best_score = UINT64_MAX;
    for (uint32_t k = 0; k < pieces_; ++k) {
      uint32_t i = (start + k) % pieces_;
      if (r.have[i] || r.inflight[i] || (has && !(*has)[i])) continue;
      uint64_t score = (r.progress[i] ? 0 : uint64_t{1} << 32) | r.avail[i];
      if (score < best_score) {
        best_score = score;
        best = static_cast<int32_t>(i);
      }
    }
    if (best != kNoPiece) r.inflight[static_cast<size_t>(best)] = 1;
    return best;
  }

  void complete_piece(uint32_t id, uint32_t piece, uint32_t& done) {
    PhoneState& p = ph_[id];
    p.have[piece] = 1;
    p.inflight[piece] = 0;
    p.have_count++;
    for (uint32_t idx : p.conns) {
      const Conn& c = conns_[idx];
      ph_[c.a == id ? c.b : c.a].avail[piece]++;
    }
    if (p.have_count == pieces_) {
      p.state = State::seeding;
      p.complete_s = now_ + cal_.step_s;
      p.stop_s = p.complete_s + o_.scenario.seed_time_s;
      ++done;
      // Two seeds have nothing for each other: clients drop such connections (libtorrent's
      // redundant-connection check, BEP 21 upload-only), which frees slots for new leechers.
      for (uint32_t idx : std::vector<uint32_t>(p.conns)) {
        const Conn& c = conns_[idx];
        if (ph_[c.a == id ? c.b : c.a].state != State::seeding) continue;
        close(idx);
        r_.seed_pairs_closed++;
      }
      if (pol_.use_peers) announce(id, Event::completed);
    }
  }

  // Water-filling: `capacity` shared max-min fairly among flows, each also bounded by its cap.
  static void water_fill(std::vector<Flow*>& flows, double capacity) {
    std::sort(flows.begin(), flows.end(), [](const Flow* x, const Flow* y) { return x->cap < y->cap; });
    double left = capacity;
    size_t n = flows.size();
    for (size_t i = 0; i < n; ++i) {
      double share = left / static_cast<double>(n - i);
      flows[i]->rate = std::min(flows[i]->cap, share);
      left -= flows[i]->rate;
    }
  }

  void step(double dt, uint32_t& done) {
    std::vector<Flow> flows;
    for (uint32_t id = 0; id < ph_.size(); ++id) {
      PhoneState& p = ph_[id];
      if (p.state != State::leeching) continue;
      double cap = cal_.per_connection_bps(cal_.webseed_rtt_s);
      if (pol_.paced_origin) {
        // Web seed on when granted (at the told rate) or starved (topping the peer rate up to
        // the floor); otherwise off, and its piece goes back to the peers.
        double topup = p.starved ? std::max(0.0, p.floor - p.peer_rate) : 0.0;
        if (p.origin_grant) {
          // A rate-shaped grant still tops up: the valve guards holders too.
          if (p.origin_rate > 0) cap = std::min(cap, std::max(p.origin_rate, topup));
          r_.origin_granted_s += dt;
        } else if (topup >= 1.0) {
          cap = std::min(cap, topup);
          r_.origin_starved_s += dt;
        } else {
          if (p.s3_piece != kNoPiece) p.inflight[static_cast<size_t>(p.s3_piece)] = 0;
          p.s3_piece = kNoPiece;
          continue;
        }
      }
      if (p.s3_piece == kNoPiece) p.s3_piece = pick(id, -1);
      if (p.s3_piece != kNoPiece) {
        Flow f;
        f.sender = f.receiver = id;
        f.cap = cap;
        flows.push_back(f);
      }
    }
    for (uint32_t idx = 0; idx < conns_.size(); ++idx) {
      Conn& c = conns_[idx];
      if (!c.alive) continue;
      for (uint8_t d = 0; d < 2; ++d) {
        uint32_t s = d == 0 ? c.a : c.b, r = d == 0 ? c.b : c.a;
        if (!c.dir[d].unchoked || ph_[r].state != State::leeching) continue;
        if (c.dir[d].piece == kNoPiece) c.dir[d].piece = pick(r, s);
        if (c.dir[d].piece == kNoPiece) continue;
        Flow f;
        f.conn = idx;
        f.dir = d;
        f.sender = s;
        f.receiver = r;
        f.internet = c.type != ConnType::lan;
        flows.push_back(f);
      }
    }
    // Sender shares: a household's uplink (or its Wi-Fi channel, for LAN flows) split evenly.
    std::vector<uint32_t> up_count(pop_.sites.size(), 0), lan_count(pop_.sites.size(), 0);
    for (const auto& f : flows)
      if (f.conn >= 0) (f.internet ? up_count : lan_count)[pop_.phones[f.sender].site]++;
    // coturn holds a relayed pair to the session rate the budget was computed with (both directions).
    relay_dirs_.assign(conns_.size(), 0);
    for (const auto& f : flows)
      if (f.conn >= 0 && conns_[static_cast<size_t>(f.conn)].type == ConnType::relayed) relay_dirs_[static_cast<size_t>(f.conn)]++;
    std::vector<std::vector<Flow*>> inbound(pop_.sites.size());
    for (auto& f : flows) {
      const Site& ss = pop_.sites[pop_.phones[f.sender].site];
      uint32_t site = pop_.phones[f.sender].site;
      if (f.conn < 0) {
        // S3's own capacity is not the bottleneck; one connection's throughput is.
      } else if (f.internet) {
        bool relayed = conns_[static_cast<size_t>(f.conn)].type == ConnType::relayed;
        f.cap = std::min(ss.link.up_bps / up_count[site],
                         cal_.per_connection_bps(relayed ? cal_.relay_rtt_s : cal_.peer_rtt_s));
        if (relayed)
          f.cap = std::min(f.cap, pol_.relay_budget.session_bytes_per_second / relay_dirs_[static_cast<size_t>(f.conn)]);
      } else {
        f.cap = std::min(ss.link.channel_bps / lan_count[site], cal_.per_connection_bps(cal_.lan_rtt_s));
        f.rate = f.cap;
      }
      if (f.internet) inbound[pop_.phones[f.receiver].site].push_back(&f);
    }
    for (size_t site = 0; site < inbound.size(); ++site)
      if (!inbound[site].empty()) water_fill(inbound[site], pop_.sites[site].link.down_bps);
    // Half-duplex Wi-Fi: a household's airtime carries its internet traffic once, LAN traffic twice.
    std::vector<double> airtime(pop_.sites.size(), 0.0), factor(pop_.sites.size(), 1.0);
    for (const auto& f : flows) {
      uint32_t rs = pop_.phones[f.receiver].site;
      airtime[rs] += f.rate;
      if (f.conn >= 0) airtime[pop_.phones[f.sender].site] += f.rate;
    }
    for (size_t site = 0; site < airtime.size(); ++site) {
      double ch = pop_.sites[site].link.channel_bps;
      if (std::isfinite(ch) && airtime[site] > ch) factor[site] = ch / airtime[site];
    }
    for (auto& f : flows) {
      double k = factor[pop_.phones[f.receiver].site];
      if (f.conn >= 0) k = std::min(k, factor[pop_.phones[f.sender].site]);
      deliver(f, f.rate * k * dt, done);
    }
    if (pol_.paced_origin) update_starvation(dt);
  }

  // The phone's own valve: peer rate under the floor for longer than the delay → starved.
  void update_starvation(double dt) {
    double a = std::min(1.0, dt / kPeerRateTauS);
    for (auto& p : ph_) {
      if (p.state != State::leeching) {
        p.step_peer_bytes = 0;
        continue;
      }
      p.peer_rate += (p.step_peer_bytes / dt - p.peer_rate) * a;
      p.step_peer_bytes = 0;
      if (p.peer_rate >= p.floor) {
        p.below_since = -1;
      } else if (p.below_since < 0) {
        p.below_since = now_;
      }
      p.starved = p.below_since >= 0 && now_ + dt - p.below_since >= p.delay_s;
    }
  }

  void account(const Flow& f, uint64_t bytes) {
    ph_[f.receiver].downloaded += bytes;
    if (f.conn < 0) {
      r_.s3_bytes += bytes;
      return;
    }
    const Conn& c = conns_[static_cast<size_t>(f.conn)];
    ph_[f.receiver].step_peer_bytes += static_cast<double>(bytes);
    ph_[f.sender].uploaded += bytes;
    r_.peer_bytes += bytes;
    r_.bytes_by_type[static_cast<size_t>(c.type)] += bytes;
    if (c.cross_isp) r_.cross_isp_bytes += bytes;
  }

  void deliver(const Flow& f, double amount, uint32_t& done) {
    PhoneState& r = ph_[f.receiver];
    // Looked up afresh each time: completing a piece announces, which may open connections
    // and grow conns_.
    auto slot = [&]() -> int32_t& {
      return f.conn < 0 ? ph_[f.receiver].s3_piece : conns_[static_cast<size_t>(f.conn)].dir[f.dir].piece;
    };
    double budget = amount;
    while (budget >= 1.0 && slot() != kNoPiece && r.state == State::leeching) {
      uint32_t piece = static_cast<uint32_t>(slot());
      uint64_t need = piece_size(piece) - r.progress[piece];
      uint64_t take = std::min<uint64_t>(need, static_cast<uint64_t>(budget));
      r.progress[piece] += static_cast<uint32_t>(take);
      budget -= static_cast<double>(take);
      account(f, take);
      if (f.conn >= 0) conns_[static_cast<size_t>(f.conn)].dir[f.dir].interval_bytes += static_cast<double>(take);
      if (take < need) break;
      slot() = kNoPiece;
      complete_piece(f.receiver, piece, done);
      if (r.state == State::leeching) {
        int32_t next = pick(f.receiver, f.conn < 0 ? -1 : static_cast<int64_t>(f.sender));
        slot() = next;
      }
    }
  }

  void finish() {
    std::vector<double> times;
    for (uint32_t id = 0; id < ph_.size(); ++id)
      if (ph_[id].complete_s >= 0) times.push_back(ph_[id].complete_s - pop_.phones[id].join_s);
    r_.completed = static_cast<uint32_t>(times.size());
    r_.completion_p50_s = percentile(times, 0.5);
    r_.completion_p95_s = percentile(times, 0.95);
    r_.completion_max_s = times.empty() ? 0 : *std::max_element(times.begin(), times.end());
    double cs = static_cast<double>(r_.client_server_bytes);
    r_.saving_pct = cs > 0 ? 100.0 * (1.0 - static_cast<double>(r_.s3_bytes) / cs) : 0;
    r_.net_saving_pct =
        cs > 0 ? 100.0 * (1.0 - static_cast<double>(r_.s3_bytes + r_.bytes_by_type[size_t(ConnType::relayed)]) / cs)
               : 0;
  }

  const SimOptions& o_;
  const Calibration& cal_;
  const Policy& pol_;
  const Population& pop_;
  Directory* dir_;
  std::mt19937_64 rng_;
  uint32_t pieces_ = 0;
  double now_ = 0;
  rendezvous::RelayBudget relay_budget_;
  std::vector<uint8_t> relay_dirs_;  // per connection: relayed directions carrying data this step
  std::vector<PhoneState> ph_;
  std::vector<Conn> conns_;
  std::unordered_map<uint64_t, uint32_t> conn_index_;
  std::unordered_map<uint64_t, uint32_t> public_index_, lan_index_;
  std::unordered_set<uint64_t> failed_, lan_known_;
  Result r_;
};

}  // namespace

Result simulate(const SimOptions& opts, const Population& pop, Directory* dir) {
  Engine e(opts, pop, dir);
  return e.run();
}

}  // namespace otaswarm::sim

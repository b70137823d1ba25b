#include "tracker/store/memory_store.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <string_view>

#include "common/crypto.h"

namespace otaswarm::store {

const char* to_string(NatBucket b) {
  switch (b) {
    case NatBucket::unknown: return "unknown";
    case NatBucket::public_address: return "public";
    case NatBucket::eim: return "eim";
    case NatBucket::apdm: return "apdm";
  }
  return "unknown";
}

const char* to_string(Tier t) {
  switch (t) {
    case Tier::lan: return "lan";
    case Tier::isp: return "isp";
    case Tier::region: return "region";
    case Tier::other: return "other";
  }
  return "other";
}

const char* to_string(Pairing p) {
  switch (p) {
    case Pairing::direct: return "direct";
    case Pairing::punch: return "punch";
    case Pairing::relay: return "relay";
    case Pairing::unknown: return "unknown";
  }
  return "unknown";
}

Pairing pairing(Reach a, Reach b) {
  if (a == Reach::unknown || b == Reach::unknown) return Pairing::unknown;
  if (a == Reach::connectable || b == Reach::connectable) return Pairing::direct;
  if (a == Reach::punchable && b == Reach::punchable) return Pairing::punch;
  return Pairing::relay;
}

bool reachable(Reach a, Reach b) { return pairing(a, b) != Pairing::relay; }

namespace {

enum Group : uint8_t { kAll = 0, kLan = 1, kIsp = 2, kRegion = 3, kGroupCount = 4 };

// Peers of one locality group, split by [seeder][reach] so a selection can pick
// seeders first and only reachable classes without filtering the whole group.
struct Buckets {
  std::array<std::array<std::vector<uint32_t>, kReachCount>, 2> v;
  bool empty() const {
    for (const auto& s : v)
      for (const auto& r : s)
        if (!r.empty()) return false;
    return true;
  }
};

struct Slot {
  PeerData d;
  uint64_t device_hash = 0;  // DeviceIndex key of d.device
  bool live = false;
  bool seeder = false;
  uint32_t gen = 0;
  int64_t last_seen = 0;
  std::array<uint32_t, kGroupCount> pos{};
};

constexpr size_t kCacheLine = 64;

// What peer selection reads of a slot, in one cache line of its own: the probes land on random
// peers of a swarm that may not fit in cache, so each costs one miss, not three. Kept in step
// with the slot by MemoryStore::Swarm::refresh_hot; the LAN address stays in the slot (read
// only for a peer on the requester's LAN).
struct alignas(kCacheLine) HotPeer {
  uint64_t lan = 0;
  uint32_t isp = 0;
  uint32_t region = 0;
  uint32_t mark = 0;  // selection epoch: dedups a peer within one reply
  PeerId peer_id{};
  Ip ip;
  uint16_t port = 0;
  bool has_lan = false;
  Reach reach = Reach::unknown;
  bool seeder = false;
};
static_assert(sizeof(HotPeer) == kCacheLine);

struct ExpiryEntry {
  uint32_t slot;
  uint32_t gen;
  int64_t seen;
};

// Fast, good-enough PRNG for peer sampling (not for secrets).
struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

// Device id -> slot, open addressing with linear probing on a 64-bit hash of the id. One
// probe is one cache line in a flat array (no node per peer, no allocation per insert); a hit
// is confirmed against the slot's device string, which the announce reads next anyway.
// Deletion shifts the cluster back, so there are no tombstones. The hash is mixed with a
// per-swarm seed, so which ids share a probe sequence cannot be chosen from outside.
class DeviceIndex {
 public:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  void seed(uint64_t s) { seed_ = s; }

  uint64_t hash(std::string_view device) const {
    uint64_t z = std::hash<std::string_view>{}(device) ^ seed_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Slot of `device` (hash `h`), or kEmpty.
  template <typename SameDevice>
  uint32_t find(uint64_t h, SameDevice same) const {
    if (entries_.empty()) return kEmpty;
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kEmpty) return kEmpty;
      if (e.hash == h && same(e.slot)) return e.slot;
    }
  }

  // `slot` must not be in the index yet.
  void insert(uint64_t h, uint32_t slot) {
    if ((size_ + 1) * kMaxLoadDen > entries_.size() * kMaxLoadNum) grow();
    place(h, slot);
    ++size_;
  }

  void erase(uint64_t h, uint32_t slot) {
    size_t i = h & mask_;
    while (entries_[i].slot != slot) i = (i + 1) & mask_;
    // Backward-shift: move later members of the cluster into the hole when their home
    // position does not lie cyclically in (hole, their position].
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (entries_[j].slot == kEmpty) break;
      size_t home = entries_[j].hash & mask_;
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      entries_[i] = entries_[j];
      i = j;
    }
    entries_[i] = Entry{};
    --size_;
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint32_t slot = kEmpty;
  };
  static constexpr size_t kMinEntries = 16;
  static constexpr size_t kMaxLoadNum = 1, kMaxLoadDen = 2;  // at most half full: short probe runs

  void place(uint64_t h, uint32_t slot) {
    size_t i = h & mask_;
    while (entries_[i].slot != kEmpty) i = (i + 1) & mask_;
    entries_[i] = Entry{h, slot};
  }

  void grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(old.empty() ? kMinEntries : old.size() * 2, Entry{});
    mask_ = entries_.size() - 1;
    for (const Entry& e : old)
      if (e.slot != kEmpty) place(e.hash, e.slot);
  }

  std::vector<Entry> entries_;
  size_t mask_ = 0;
  size_t size_ = 0;
  uint64_t seed_ = 0;
};

}  // namespace

struct MemoryStore::Swarm {
  std::vector<Slot> slots;
  std::vector<HotPeer> hot;  // parallel to slots
  std::vector<uint32_t> free;
  DeviceIndex by_device;
  Buckets all;
  std::unordered_map<uint64_t, Buckets> lan, isp, region;
  std::deque<ExpiryEntry> expiry;
  uint32_t seeders = 0, leechers = 0;
  uint64_t completed = 0, uploaded = 0, downloaded = 0;
  std::array<uint32_t, kNatBucketCount> nat{};
  std::array<uint64_t, kTierCount> tiers{};
  uint32_t epoch = 0;
  SplitMix rng{0};

  Buckets* group(Group g, const Locality& loc, bool create) {
    auto pick = [&](std::unordered_map<uint64_t, Buckets>& m, uint64_t key) -> Buckets* {
      if (key == 0) return nullptr;
      if (create) return &m[key];
      auto it = m.find(key);
      return it == m.end() ? nullptr : &it->second;
    };
    switch (g) {
      case kAll: return &all;
      case kLan: return pick(lan, loc.lan);
      case kIsp: return pick(isp, loc.isp);
      case kRegion: return pick(region, loc.region);
      default: return nullptr;
    }
  }

  void refresh_hot(uint32_t idx) {
    const Slot& s = slots[idx];
    HotPeer& h = hot[idx];
    h.lan = s.d.loc.lan;
    h.isp = s.d.loc.isp;
    h.region = s.d.loc.region;
    h.peer_id = s.d.peer_id;
    h.ip = s.d.ip;
    h.port = s.d.port;
    h.has_lan = s.d.has_lan;
    h.reach = s.d.reach;
    h.seeder = s.seeder;
  }

  void link(uint32_t idx) {
    Slot& s = slots[idx];
    for (int g = 0; g < kGroupCount; ++g) {
      Buckets* b = group(static_cast<Group>(g), s.d.loc, true);
      if (!b) continue;
      auto& vec = b->v[s.seeder][static_cast<size_t>(s.d.reach)];
      s.pos[g] = static_cast<uint32_t>(vec.size());
      vec.push_back(idx);
    }
    (s.seeder ? seeders : leechers)++;
    nat[static_cast<size_t>(s.d.nat)]++;
  }

  void unlink(uint32_t idx) {
    Slot& s = slots[idx];
    for (int g = 0; g < kGroupCount; ++g) {
      Buckets* b = group(static_cast<Group>(g), s.d.loc, false);
      if (!b) continue;
      auto& vec = b->v[s.seeder][static_cast<size_t>(s.d.reach)];
      uint32_t p = s.pos[g];
      uint32_t moved = vec.back();
      vec[p] = moved;
      slots[moved].pos[g] = p;
      vec.pop_back();
      if (g != kAll && b->empty()) {
        auto& m = g == kLan ? lan : g == kIsp ? isp : region;
        m.erase(g == kLan ? s.d.loc.lan : g == kIsp ? s.d.loc.isp : s.d.loc.region);
      }
    }
    (s.seeder ? seeders : leechers)--;
    nat[static_cast<size_t>(s.d.nat)]--;
  }

  void remove(uint32_t idx) {
    unlink(idx);
    Slot& s = slots[idx];
    by_device.erase(s.device_hash, idx);
    s.live = false;
    s.gen++;
    s.d = PeerData{};
    free.push_back(idx);
  }

  void expire(int64_t now, int64_t timeout, size_t budget) {
    while (!expiry.empty() && budget-- > 0) {
      const ExpiryEntry& e = expiry.front();
      if (e.seen + timeout > now) break;
      Slot& s = slots[e.slot];
      if (s.live && s.gen == e.gen && s.last_seen == e.seen) remove(e.slot);
      expiry.pop_front();
    }
  }

  size_t size() const { return seeders + leechers; }
};

namespace {

bool family_ok(const Ip& ip, const SelectionPolicy& p) { return ip.v6 ? p.want_v6 : p.want_v4; }

constexpr uint64_t kProbeBatch = 64;  // probes whose peers are fetched together, all misses in flight at once

struct Selector {
  MemoryStore::Swarm& sw;
  const PeerData& me;
  uint32_t self;  // slot of the requester, or UINT32_MAX
  bool me_seeder;
  const SelectionPolicy& pol;
  AnnounceResult& out;
  std::array<bool, kReachCount> allowed{};

  Tier tier_of(const HotPeer& h) const {
    if (me.loc.lan != 0 && h.lan == me.loc.lan) return Tier::lan;
    if (me.loc.isp != 0 && h.isp == me.loc.isp) return Tier::isp;
    if (me.loc.region != 0 && h.region == me.loc.region) return Tier::region;
    return Tier::other;
  }

  // Takes up to `want` new peers from `b` for which pred(slot) holds: seeders first for a
  // leecher, only leechers for a seeder. Walks a random cyclic permutation of the allowed
  // buckets so each call costs O(want + skipped) rather than O(group).
  template <typename Pred>
  uint32_t take(Buckets* b, uint32_t want, Pred pred) {
    if (!b || want == 0) return 0;
    uint32_t got = 0;
    for (int seed_class = 1; seed_class >= 0 && got < want; --seed_class) {
      if (me_seeder && seed_class == 1) continue;
      const std::vector<uint32_t>* vs[kReachCount];
      size_t sizes[kReachCount];
      size_t n = 0, total = 0;
      for (size_t r = 0; r < kReachCount; ++r) {
        if (!allowed[r] || b->v[seed_class][r].empty()) continue;
        vs[n] = &b->v[seed_class][r];
        sizes[n] = vs[n]->size();
        total += sizes[n];
        ++n;
      }
      if (total == 0) continue;
      uint64_t start = sw.rng.below(total);
      uint64_t step = 1;
      if (total > 1) {
        step = 1 + sw.rng.below(total - 1);
        while (std::gcd(step, static_cast<uint64_t>(total)) != 1) step = step % (total - 1) + 1;
      }
      // Skips are bounded: already-picked peers are at most numwant, plus a slack for predicates.
      uint64_t max_probes = std::min<uint64_t>(total, uint64_t{want} * 4 + out.peers.size() + 16);
      auto advance = [&](uint64_t i) { return i + step >= total ? i + step - total : i + step; };
      auto slot_at = [&](uint64_t i) {
        size_t which = 0;
        while (i >= sizes[which]) i -= sizes[which++];
        return (*vs[which])[i];
      };
      // Probes land on random peers of a swarm that may not fit in cache. They are taken in
      // batches of as many as are still wanted: the whole batch is prefetched first, so its
      // cache misses overlap instead of coming one after the other; skipped probes (rare) only
      // make another, smaller batch.
      std::array<uint32_t, kProbeBatch> batch;
      uint64_t pos = start;
      for (uint64_t probes = 0; probes < max_probes && got < want;) {
        uint64_t k = std::min({kProbeBatch, max_probes - probes, uint64_t{want - got}});
        for (uint64_t i = 0; i < k; ++i, pos = advance(pos)) {
          batch[i] = slot_at(pos);
          __builtin_prefetch(&sw.hot[batch[i]]);
        }
        probes += k;
        for (uint64_t i = 0; i < k; ++i) {
          uint32_t slot = batch[i];
          HotPeer& h = sw.hot[slot];
          if (slot == self || h.mark == sw.epoch || !pred(h)) continue;
          bool lan_addr = me.loc.lan != 0 && h.lan == me.loc.lan && h.has_lan;
          const Slot* cold = lan_addr ? &sw.slots[slot] : nullptr;
          const Ip& ip = lan_addr ? cold->d.lan_ip : h.ip;
          if (!family_ok(ip, pol)) continue;
          h.mark = sw.epoch;
          SelectedPeer& sp = out.peers.emplace_back();
          sp.peer_id = h.peer_id;
          sp.ip = ip;
          sp.port = lan_addr ? cold->d.lan_port : h.port;
          sp.tier = tier_of(h);
          sp.pairing = lan_addr ? Pairing::direct : pairing(me.reach, h.reach);
          sp.seeder = h.seeder;
          sw.tiers[static_cast<size_t>(sp.tier)]++;
          ++got;
        }
      }
    }
    return got;
  }

  void run() {
    for (size_t r = 0; r < kReachCount; ++r)
      allowed[r] = !pol.reachability || reachable(me.reach, static_cast<Reach>(r));
    uint32_t want = pol.numwant;
    auto left = [&] { return want - static_cast<uint32_t>(out.peers.size()); };
    auto any = [](const HotPeer&) { return true; };
    if (pol.locality) {
      uint32_t reserve = std::min(pol.outside_isp, want);
      if (me.loc.lan) {
        // Same-LAN peers are reached over their LAN address: no NAT in between, every class pairs.
        auto saved = allowed;
        allowed.fill(true);
        take(sw.group(kLan, me.loc, false), left(), any);
        allowed = saved;
      }
      if (me.loc.isp && left() > reserve) take(sw.group(kIsp, me.loc, false), left() - reserve, any);
      auto outside = [&](const HotPeer& h) { return me.loc.isp == 0 || h.isp != me.loc.isp; };
      if (me.loc.region && left() > reserve) take(sw.group(kRegion, me.loc, false), left() - reserve, outside);
      take(&sw.all, std::min(left(), reserve), outside);
    }
    take(&sw.all, left(), any);
    // A list with no reachable peer is useless: fall back to any class rather than nothing.
    if (pol.reachability && out.peers.empty() && sw.size() > 1) {
      allowed.fill(true);
      take(&sw.all, left(), any);
    }
  }
};

}  // namespace

MemoryStore::MemoryStore(MemoryStoreOptions opts, const Clock& clock)
    : opts_(opts), clock_(clock), shards_(new Shard[kShards]) {}

MemoryStore::~MemoryStore() = default;

MemoryStore::Shard& MemoryStore::shard_for(const InfoHash& h) {
  return shards_[InfoHashHasher{}(h) % kShards];
}

Status MemoryStore::announce_sync(const AnnounceOp& op, AnnounceResult& out, AnnounceEffect* effect) {
  Shard& sh = shard_for(op.info_hash);
  std::lock_guard lk(sh.mu);
  auto it = sh.swarms.find(op.info_hash);
  if (it == sh.swarms.end()) {
    if (op.event == Event::stopped) return Status::ok;
    if (swarm_count_.load() >= opts_.max_swarms) return Status::limit;
    auto sw = std::make_unique<Swarm>();
    sw->rng.s = opts_.seed ? opts_.seed ^ InfoHashHasher{}(op.info_hash) : crypto::random_u64();
    sw->by_device.seed(crypto::random_u64());
    it = sh.swarms.emplace(op.info_hash, std::move(sw)).first;
    swarm_count_++;
  }
  Swarm& sw = *it->second;
  int64_t now = clock_.mono_ms();
  sw.expire(now, opts_.peer_timeout_ms, 8);

  const PeerData& p = op.peer;
  bool seeder = p.left == 0;
  uint64_t device_hash = sw.by_device.hash(p.device);
  uint32_t idx = sw.by_device.find(device_hash, [&](uint32_t i) { return sw.slots[i].d.device == p.device; });

  // Byte counters and completion are accounted on every event, stopped included: a phone's
  // last upload before it leaves counts, and clients that never send `completed` (a leecher
  // that comes back with left=0) still complete once.
  auto account = [&](const Slot* prev) {
    uint64_t prev_up = prev ? prev->d.uploaded : 0, prev_down = prev ? prev->d.downloaded : 0;
    bool new_session = op.event == Event::started;
    uint64_t up = (new_session || p.uploaded < prev_up) ? p.uploaded : p.uploaded - prev_up;
    uint64_t down = (new_session || p.downloaded < prev_down) ? p.downloaded : p.downloaded - prev_down;
    sw.uploaded += up;
    sw.downloaded += down;
    bool was_seeder = prev && prev->seeder;
    bool done = !was_seeder && (op.event == Event::completed || (prev && seeder));
    if (done) sw.completed++;
    if (effect) *effect = AnnounceEffect{done ? 1u : 0u, up, down};
  };

  if (op.event == Event::stopped) {
    if (idx != UINT32_MAX) {
      account(&sw.slots[idx]);
      sw.remove(idx);
    }
    out.seeders = sw.seeders;
    out.leechers = sw.leechers;
    out.completed = sw.completed;
    return Status::ok;
  }

  if (idx != UINT32_MAX && op.event == Event::none && op.min_interval_ms > 0 &&
      now - sw.slots[idx].last_seen < op.min_interval_ms) {
    out.too_soon = true;
    out.seeders = sw.seeders;
    out.leechers = sw.leechers;
    out.completed = sw.completed;
    return Status::ok;
  }

  if (idx == UINT32_MAX) {
    account(nullptr);
    if (sw.size() >= opts_.max_peers_per_swarm) return Status::limit;
    if (!sw.free.empty()) {
      idx = sw.free.back();
      sw.free.pop_back();
    } else {
      idx = static_cast<uint32_t>(sw.slots.size());
      sw.slots.emplace_back();
      sw.hot.emplace_back();
    }
    Slot& s = sw.slots[idx];
    s.d = p;
    s.seeder = seeder;
    s.live = true;
    sw.refresh_hot(idx);
    sw.link(idx);
    s.device_hash = device_hash;
    sw.by_device.insert(device_hash, idx);
  } else {
    Slot& s = sw.slots[idx];
    account(&s);
    bool regroup = s.seeder != seeder || s.d.reach != p.reach || s.d.nat != p.nat || s.d.loc.lan != p.loc.lan ||
                   s.d.loc.isp != p.loc.isp || s.d.loc.region != p.loc.region;
    if (regroup) sw.unlink(idx);
    s.d = p;
    s.seeder = seeder;
    sw.refresh_hot(idx);
    if (regroup) sw.link(idx);
  }
  Slot& s = sw.slots[idx];
  s.last_seen = now;
  sw.expiry.push_back({idx, s.gen, now});

  sw.epoch++;
  Selector sel{sw, p, idx, seeder, op.policy, out, {}};
  out.peers.reserve(op.policy.numwant);
  if (op.policy.numwant > 0) sel.run();
  out.seeders = sw.seeders;
  out.leechers = sw.leechers;
  out.completed = sw.completed;
  return Status::ok;
}

void MemoryStore::announce(const AnnounceOp& op, AnnounceCallback cb) {
  AnnounceResult r;
  Status st = announce_sync(op, r);
  cb(st, std::move(r));
}

void MemoryStore::scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) {
  std::vector<SwarmCounts> out;
  out.reserve(hashes.size());
  for (const auto& h : hashes) out.push_back(counts(h));
  cb(Status::ok, std::move(out));
}

SwarmCounts MemoryStore::counts(const InfoHash& h) {
  Shard& sh = shard_for(h);
  std::lock_guard lk(sh.mu);
  SwarmCounts c;
  auto it = sh.swarms.find(h);
  if (it == sh.swarms.end()) return c;
  const Swarm& sw = *it->second;
  c.seeders = sw.seeders;
  c.leechers = sw.leechers;
  c.completed = sw.completed;
  c.uploaded = sw.uploaded;
  c.downloaded = sw.downloaded;
  c.nat = sw.nat;
  c.tiers = sw.tiers;
  return c;
}

size_t MemoryStore::peer_count(const InfoHash& h) {
  auto c = counts(h);
  return c.seeders + c.leechers;
}

void MemoryStore::for_each_peer(const InfoHash& h, const std::function<void(const PeerData&)>& fn) {
  Shard& sh = shard_for(h);
  std::lock_guard lk(sh.mu);
  auto it = sh.swarms.find(h);
  if (it == sh.swarms.end()) return;
  it->second->expire(clock_.mono_ms(), opts_.peer_timeout_ms, SIZE_MAX);
  for (const Slot& s : it->second->slots)
    if (s.live) fn(s.d);
}

void MemoryStore::remove_swarm(const InfoHash& h) {
  Shard& sh = shard_for(h);
  std::lock_guard lk(sh.mu);
  if (sh.swarms.erase(h)) swarm_count_--;
}

void MemoryStore::maintain() {
  int64_t now = clock_.mono_ms();
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard lk(shards_[i].mu);
    for (auto& [h, sw] : shards_[i].swarms) sw->expire(now, opts_.peer_timeout_ms, SIZE_MAX);
  }
}

}  // namespace otaswarm::store

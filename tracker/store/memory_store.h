#pragma once
// In-memory swarm store, sharded by info_hash. Each swarm indexes its peers by locality
// group (all, LAN, ISP, region) × seeder/leecher × reachability, so selecting numwant
// peers costs O(numwant) whatever the swarm size. Silent peers expire through a
// time-ordered queue (amortised O(1) per announce, no scans).
#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm::store {

struct InfoHashHasher {
  size_t operator()(const InfoHash& h) const noexcept {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

struct MemoryStoreOptions {
  int64_t peer_timeout_ms = 2 * 3600 * 1000;
  size_t max_swarms = 1'000'000;
  size_t max_peers_per_swarm = 50'000'000;
  uint64_t seed = 0;  // 0 = random; fixed seeds make selection deterministic in tests
};

// What one announce changed in the cumulative counters (for stores that share them).
struct AnnounceEffect {
  uint64_t completed = 0, uploaded = 0, downloaded = 0;
};

class MemoryStore final : public SwarmStore {
 public:
  MemoryStore(MemoryStoreOptions opts, const Clock& clock);
  ~MemoryStore() override;

  void announce(const AnnounceOp& op, AnnounceCallback cb) override;
  bool announce_now(const AnnounceOp& op, Status& st, AnnounceResult& out) override {
    st = announce_sync(op, out);
    return true;
  }
  void scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) override;
  SwarmCounts counts(const InfoHash& h) override;
  void remove_swarm(const InfoHash& h) override;
  void maintain() override;
  std::string backend() const override { return "memory"; }
  bool healthy(std::string&) const override { return true; }

  // Synchronous form used by the async one, benchmarks and tests.
  Status announce_sync(const AnnounceOp& op, AnnounceResult& out, AnnounceEffect* effect = nullptr);
  size_t peer_count(const InfoHash& h);
  // Every live peer of one swarm (under its shard's lock: keep `fn` cheap).
  void for_each_peer(const InfoHash& h, const std::function<void(const PeerData&)>& fn);

  struct Swarm;

 private:
  static constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<InfoHash, std::unique_ptr<Swarm>, InfoHashHasher> swarms;
  };
  Shard& shard_for(const InfoHash& h);

  MemoryStoreOptions opts_;
  const Clock& clock_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<size_t> swarm_count_{0};
};

}  // namespace otaswarm::store

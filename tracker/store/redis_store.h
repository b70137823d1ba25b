#pragma once
// Swarm store in Redis or Redis Cluster. Every key of one swarm carries the swarm's hash
// tag, so one announce is one Lua script on one node: upsert + selection with
// SRANDMEMBER per locality/reachability group, O(numwant) whatever the swarm size. Peers
// expire by time windows (sets per window with EXPIRE), never by scanning; see docs/redis.md.
//
// At shutdown (the client is destroyed first) requests still at Redis get no callback: the
// front ends' executors may already be gone.
//
// Degraded mode: when Redis does not answer within the request deadline, the announce is
// answered from a local MemoryStore that mirrors this replica's announces, with the last
// known counts and a short re-announce interval; healthy() turns false with the reason and
// service recovers by itself when Redis answers again.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/redis/client.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm::store {

struct RedisStoreOptions {
  MemoryStoreOptions memory;  // peer timeout and limits; also configures the local fallback
  std::chrono::milliseconds announce_timeout{300};
  std::chrono::milliseconds scrape_timeout{300};
  uint32_t degraded_interval = 120;  // seconds: re-announce hint while answering from the fallback
  // Announces queued at Redis at once; more would only wait out the deadline (Little's law:
  // 256 × ~0.5 ms per script ≈ 130 ms, inside the 300 ms deadline).
  size_t max_in_flight = 256;
  std::string key_prefix = "os";
};

class RedisStore final : public SwarmStore {
 public:
  RedisStore(std::unique_ptr<redis::Client> client, RedisStoreOptions opts, const Clock& clock,
             metrics::Registry* metrics);
  ~RedisStore() override;

  void announce(const AnnounceOp& op, AnnounceCallback cb) override;
  void scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) override;
  SwarmCounts counts(const InfoHash& h) override;
  void remove_swarm(const InfoHash& h) override;
  void maintain() override;
  std::string backend() const override;
  bool healthy(std::string& why) const override;

  bool degraded() const override { return degraded_.load(); }
  redis::Client& client() { return *client_; }
  // Key holding every key of one swarm behind its hash tag: "<prefix>:{<hex info hash>}".
  std::string swarm_key(const InfoHash& h) const;
  int64_t window_seconds() const { return window_s_; }

 private:
  struct Op;
  void run_script(int which, std::vector<std::string> args, const std::string& key, std::chrono::milliseconds timeout,
                  redis::Callback cb);
  void fetch_counts(const InfoHash& h, std::function<void(bool, SwarmCounts)> done);
  void remember(const InfoHash& h, const SwarmCounts& c);
  void fail(const char* op, const std::string& why);
  void succeed();
  std::optional<SwarmCounts> cached(const InfoHash& h) const;
  AnnounceResult degraded_answer(const AnnounceOp& op);
  // Seed of one announce script's math.random: random, or a repeatable sequence from opts.memory.seed.
  uint64_t script_seed();

  RedisStoreOptions opts_;
  const Clock& clock_;
  int64_t window_s_;
  MemoryStore fallback_;
  std::atomic<bool> degraded_{false};
  std::atomic<size_t> in_flight_{0};
  std::atomic<uint64_t> script_calls_{0};
  mutable std::mutex mu_;
  std::string last_error_;
  std::chrono::steady_clock::time_point last_failure_{};
  std::chrono::steady_clock::time_point last_log_{};
  std::unordered_map<InfoHash, SwarmCounts, InfoHashHasher> counts_;
  size_t refresh_cursor_ = 0;
  struct Metrics;
  std::unique_ptr<Metrics> m_;
  std::unique_ptr<redis::Client> client_;  // last: destroyed first, its callbacks still see the members
};

}  // namespace otaswarm::store

#pragma once
// Swarm store on Redis or Redis Cluster where selection stays in replica memory and Redis
// carries only what replicas must share (docs/redis.md):
//
// - Each replica's local view of a swarm is a MemoryStore: announces are answered from it on
//   the spot (announce_now), exactly as the embedded store does.
// - A release is split into K shards by device hash; shard k is one Redis Stream under its own
//   hash tag, the tags chosen so the K slots spread evenly over the slot space (so over every
//   master). An announce that changed something (not a `too_soon` re-announce) XADDs one
//   compact binary record to its device's shard, pipelined, no script; MAXLEN ~ bounds it.
// - Every replica reads the shards of the releases it serves (non-blocking XREAD rounds on its
//   own thread, every few ms while records arrive) and applies other replicas' records to its
//   view. Records carry the counter deltas (completed once per download, Σ bytes) computed by
//   the replica that took the announce, so the cumulative counts converge exactly.
// - Per shard, one replica at a time (SET NX lock) writes a compact snapshot of the shard's
//   live peers with the stream ID and counters it covers; a replica that starts serving a
//   release (or comes back after a gap) loads the snapshots, then reads the streams from there.
//
// Redis down: answers keep coming from the local view (with a shorter interval hint) and the
// store reports degraded; reading resumes by itself (gaps are bridged through the snapshots).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/redis/client.h"
#include "tracker/store/memory_store.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm::store {

struct RedisStreamStoreOptions {
  MemoryStoreOptions memory;   // the local view's limits and peer timeout
  uint32_t shards = 12;        // streams per release (12 spreads evenly over 1, 2, 3, 4 or 6 masters)
  std::chrono::milliseconds poll_min{20};      // pause between read rounds while records arrive
  std::chrono::milliseconds poll_max{200};     // ... backing off to this while a release is quiet
  std::chrono::milliseconds request_timeout{1000};
  std::chrono::milliseconds catch_up_timeout{300};  // a release's first announce here waits at most this
  std::chrono::seconds snapshot_every{30};     // at most this old, when the shard changed
  size_t min_stream_len = 256;                 // records kept per shard: max(this, 1.5 × peers of the shard)
  size_t read_batch = 2048;                    // entries per XREAD
  size_t max_in_flight = 1024;                 // XADDs sent and not yet answered
  std::chrono::milliseconds flush_interval{10};  // the writer sends what gathered this often
  size_t records_per_entry = 256;              // records batched into one XADD at most
  size_t max_queued = 262144;                  // records waiting to be sent; beyond: not published (shed)
  uint32_t degraded_interval = 120;            // seconds: re-announce hint while Redis fails
  std::string key_prefix = "os";
};

class RedisStreamStore final : public SwarmStore {
 public:
  RedisStreamStore(std::unique_ptr<redis::Client> client, RedisStreamStoreOptions opts, const Clock& clock,
                   metrics::Registry* metrics);
  ~RedisStreamStore() override;

  void announce(const AnnounceOp& op, AnnounceCallback cb) override;
  bool announce_now(const AnnounceOp& op, Status& st, AnnounceResult& out) override;
  void scrape(const std::vector<InfoHash>& hashes, ScrapeCallback cb) override;
  SwarmCounts counts(const InfoHash& h) override;
  void remove_swarm(const InfoHash& h) override;
  void maintain() override;
  std::string backend() const override;
  bool healthy(std::string& why) const override;
  bool degraded() const override { return degraded_.load(); }

  redis::Client& client() { return *client_; }
  // "<prefix>:{<tag of shard k>}:" — the stream is "<that>s", the snapshot "<that>snap".
  std::string shard_prefix(const InfoHash& h, uint32_t k) const;
  uint32_t shard_of(std::string_view device) const;
  MemoryStore& local_view() { return local_; }
  struct Stats {
    uint64_t published = 0, shed = 0, applied = 0, snapshots = 0;
  };
  Stats stats() const {
    return {published_.load(), shed_.load(), applied_.load(), snapshots_.load()};
  }

  struct Release;
  struct Shard;

 private:
  std::shared_ptr<Release> find(const InfoHash& h) const;
  std::shared_ptr<Release> follow(const InfoHash& h);
  void when_ready(const std::shared_ptr<Release>& r, std::function<void()> fn);
  void answer(const std::shared_ptr<Release>& r, const AnnounceOp& op, Status& st, AnnounceResult& out);
  void publish(const std::shared_ptr<Release>& r, const AnnounceOp& op, const AnnounceEffect& fx, uint32_t peers);
  void flush_loop();  // the writer thread: outbox → XADD per shard
  void fill_counts(const Release& r, SwarmCounts& c);
  void run();  // the reader thread
  bool round();
  void catch_up(const std::vector<std::shared_ptr<Release>>& rs);
  void snapshot_due(const std::vector<std::shared_ptr<Release>>& rs);
  void apply(Release& r, Shard& s, const std::string& id, const std::string& rec);
  void load_snapshot(Release& r, Shard& s, const std::string& blob, bool initial);
  void fail(const char* op, const std::string& why);
  void succeed();

  RedisStreamStoreOptions opts_;
  const Clock& clock_;
  uint64_t replica_;  // random id in every record: a replica skips its own
  MemoryStore local_;
  mutable std::shared_mutex map_mu_;
  std::unordered_map<InfoHash, std::shared_ptr<Release>, InfoHashHasher> releases_;
  mutable std::atomic<bool> degraded_{false};
  // Single node: when the client last said the node is down (every shard fails with it).
  mutable std::atomic<int64_t> all_failed_ms_{INT64_MIN / 2};
  mutable std::atomic<bool> ever_up_{false};  // not connected yet at start-up is not an outage
  std::atomic<size_t> in_flight_{0};
  std::atomic<uint64_t> published_{0}, shed_{0}, applied_{0}, snapshots_{0};
  mutable std::mutex mu_;
  std::string last_error_;
  std::chrono::steady_clock::time_point last_failure_{};
  std::chrono::steady_clock::time_point last_log_{};
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool wake_flag_ = false;
  std::atomic<bool> stop_{false};
  struct Outgoing {
    std::shared_ptr<Release> release;
    uint32_t shard;
    uint32_t peers;
    std::string bytes;
  };
  std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::vector<Outgoing> outbox_;
  std::atomic<bool> out_stop_{false};
  std::thread flusher_;
  struct Metrics;
  std::unique_ptr<Metrics> m_;
  std::unique_ptr<redis::Client> client_;
  std::thread reader_;
};

}  // namespace otaswarm::store

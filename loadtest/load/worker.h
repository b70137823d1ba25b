#pragma once
// One generator thread: its own io_context, its share of the schedule (requests i ≡ index mod
// count) and of the phones (phone ≡ index mod count), its own stats. Subclasses speak UDP or HTTP.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "loadtest/load/population.h"
#include "loadtest/load/schedule.h"
#include "loadtest/load/stats.h"
#include "loadtest/load/target.h"

namespace otaswarm::loadtest {

// Scheduling granularity: due requests go out in bursts at most this far apart.
inline constexpr auto kTickInterval = std::chrono::microseconds(500);
// A request sent later than this after its due time counts as late (generator saturated).
inline constexpr int64_t kLateThresholdNs = 10'000'000;

struct WorkerConfig {
  unsigned index = 0, count = 1;
  const Schedule* schedule = nullptr;
  Population* population = nullptr;
  Target target;
  uint32_t max_inflight = 1024;  // this worker's share of --concurrency
  int64_t timeout_ns = 2'000'000'000;
  int32_t numwant = 50;
  const std::atomic<bool>* stop = nullptr;            // set on SIGINT/SIGTERM: stop scheduling
  std::chrono::steady_clock::time_point start;       // common to all workers
};

class Worker {
 public:
  explicit Worker(WorkerConfig config);
  virtual ~Worker() = default;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Sets up sockets; throws std::runtime_error with a clear message when that fails.
  virtual void prepare() {}
  void set_start(std::chrono::steady_clock::time_point start) { config_.start = start; }
  // Runs until this worker's share is sent and every request is answered or timed out.
  void run();
  RunStats& stats() { return stats_; }
  LiveCounters& live() { return live_; }

 protected:
  virtual void issue(uint32_t phone, Phase phase, int64_t now_ns) = 0;
  virtual void sweep(int64_t now_ns) = 0;
  virtual size_t inflight() const = 0;
  virtual void shutdown() = 0;

  int64_t now_ns() const;
  void record_sent(Phase phase, Event event);
  void record_answer(Phase phase, int64_t sent_ns, int64_t now_ns);
  void record_error(Phase phase, ErrorKind kind, int64_t now_ns);
  void record_timeout(Phase phase, int64_t now_ns);
  void record_not_sent(Phase phase, NotSentKind kind);
  void update_inflight() { live_.inflight.store(inflight(), std::memory_order_relaxed); }

  WorkerConfig config_;
  boost::asio::io_context io_{1};
  RunStats stats_;
  LiveCounters live_;

 private:
  void arm_tick();
  void on_tick();

  boost::asio::steady_timer tick_{io_};
  std::chrono::steady_clock::time_point next_tick_;
  uint64_t issued_ = 0;
  uint64_t share_total_ = 0;
  uint32_t local_phones_ = 0;
  bool scheduling_done_ = false;
};

}  // namespace otaswarm::loadtest

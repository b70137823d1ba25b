#pragma once
// Flash-crowd admission control: per-device, per-address and per-swarm token buckets
// (the address limit is generous: thousands of phones share one carrier-grade-NAT address,
// so the device limit does the real work), an optional replica-wide budget for periodic
// announces (shed first, cheaply, with a retry hint), and an adaptive announce interval
// that grows smoothly with load and shrinks again when it falls.
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/clock.h"
#include "common/rate_limit.h"
#include "tracker/store/swarm_store.h"

namespace otaswarm {

struct AdmissionConfig {
  RateLimit device{1.0 / 15, 8};        // a well-behaved phone announces every ~30 min
  RateLimit address{2000, 10000};         // carrier-grade NAT: many phones per address
  RateLimit swarm{0, 0};                // off by default: a release's crowd is legitimate
  double periodic_budget_per_second = 0;  // replica-wide cap on periodic announces; 0 = off
  double target_rate = 20000;             // announces/s per replica before intervals grow
  double target_latency_s = 0.05;         // mean handler latency before intervals grow
  double max_interval_factor = 8;
  double smoothing = 0.2;                 // EWMA weight of a new load sample (per tick)
  size_t max_keys = 2'000'000;
};

enum class Admission : uint8_t { admitted = 0, device_limited, address_limited, swarm_limited, shed };
const char* to_string(Admission a);

struct AdmissionResult {
  Admission decision = Admission::admitted;
  uint32_t retry_in_s = 0;
};

class AdmissionController {
 public:
  AdmissionController(AdmissionConfig cfg, const Clock& clock);

  AdmissionResult admit(uint64_t device_key, uint64_t address_key, const store::InfoHash& swarm, store::Event ev);
  AdmissionResult admit_address(uint64_t address_key);  // scrapes, requests without a device

  // Records one answered request and its handler latency.
  void record(double latency_s);
  // Called once a second: updates the load estimate and the interval factor.
  void tick();
  double interval_factor() const { return factor_.load(std::memory_order_relaxed); }
  double load_rate() const { return rate_.load(std::memory_order_relaxed); }
  void sweep();

 private:
  AdmissionConfig cfg_;
  const Clock& clock_;
  RateLimiter device_, address_, swarm_;
  static constexpr size_t kPeriodicKeys = RateLimiter::kShards;  // one key in use; one slot per shard
  RateLimiter periodic_;  // single key
  std::atomic<uint64_t> count_{0};
  std::atomic<double> latency_sum_{0};
  std::atomic<double> factor_{1.0};
  std::atomic<double> rate_{0};
  int64_t last_tick_ms_ = 0;
};

// Overload shedding by queue delay (kernel receipt of a request → its handling), one gate per
// I/O thread (not thread-safe; its thread owns it). Once the sampled delay has stayed above the
// target for kShedConfirmMs (a standing queue, not one descheduled moment), the thread sheds:
// while the latest sample is above the target, announces get the cheap "tracker busy, retry in
// N s" reply (no token check, no store work); at or below it they are answered. So the thread
// works through a standing queue at the cost of a busy reply per announce until what is left
// waited less than the target, and answers that: it never idles while a backlog waits (an
// earlier share controller shed the backlog it had measured late and left the core idle), and
// answered announces wait about the target. The shedding episode ends kHoldMs after the last
// over-target sample. A busy reply is not free (recvmmsg + parse + sendmmsg share), so busy
// replies may be bounded to `busy_per_answer` per announce let through; beyond that a shed
// announce is dropped (its receive is all it costs).
struct ShedConfig {
  double queue_delay_ms = 50;  // target; 0 = off
  uint32_t retry_s = 60;       // retry hint of a shed reply, scaled by the interval factor
  // Busy replies affordable per answered announce (a token bucket holding the larger of
  // kBusyReplyBurst and this); 0 = none after the first burst, shed announces are dropped.
  // A busy reply costs ~0.4 of an answer's CPU (5.4 vs 13.2 µs, both batched, at 0.1 core), so
  // 1 caps busy replies at ~30% of a saturated thread.
  double busy_per_answer = 1;
  // SO_RCVBUF (bytes) of a UDP socket during a shedding episode; 0 = unchanged. Must hold what
  // arrives while the thread is descheduled (CFS quota periods), or the thread idles.
  int receive_buffer = 128 << 10;
};

class QueueDelayGate {
 public:
  static constexpr int64_t kShedConfirmMs = 50;  // delay above target this long before shedding
  static constexpr int64_t kHoldMs = 1000;       // an episode lasts this long after its last over-target sample
  static constexpr int64_t kStaleMs = 1000;      // no sample this long: the old verdict lapses
  static constexpr double kBusyReplyBurst = 1024;  // a backlog being worked off sheds many batches in a row
  QueueDelayGate(ShedConfig cfg, const Clock& clock)
      : cfg_(cfg), clock_(clock), reply_burst_(std::max(kBusyReplyBurst, cfg.busy_per_answer)), reply_credit_(reply_burst_) {}
  bool enabled() const { return cfg_.queue_delay_ms > 0; }
  // Records the queue delay of the latest request (or batch).
  void sample(double delay_ms);
  enum class Verdict : uint8_t { handle, busy_reply, drop };
  // What to do with the next announce.
  Verdict next();
  // True while the latest sample says shed (within a confirmed episode).
  bool shedding() const;
  // True from a confirmed standing queue until kHoldMs after its last over-target sample.
  bool in_episode() const;

 private:
  ShedConfig cfg_;
  const Clock& clock_;
  double reply_burst_;           // the larger of kBusyReplyBurst and busy_per_answer
  double reply_credit_;          // busy replies affordable now
  double last_delay_ms_ = 0;
  int64_t above_since_ms_ = -1;  // first of the current run of over-target samples
  int64_t episode_until_ms_ = -1;
  int64_t last_sample_ms_ = 0;
};

}  // namespace otaswarm

#include "tracker/admission.h"

#include <algorithm>
#include <cmath>
#include <cstring>


namespace otaswarm {

const char* to_string(Admission a) {
  switch (a) {
    case Admission::admitted: return "admitted";
    case Admission::device_limited: return "device_limited";
    case Admission::address_limited: return "address_limited";
    case Admission::swarm_limited: return "swarm_limited";
    case Admission::shed: return "shed";
  }
  return "admitted";
}

AdmissionController::AdmissionController(AdmissionConfig cfg, const Clock& clock)
    : cfg_(cfg),
      clock_(clock),
      device_(cfg.device, cfg.max_keys, clock),
      address_(cfg.address, cfg.max_keys, clock),
      swarm_(cfg.swarm, cfg.max_keys, clock),
      periodic_({cfg.periodic_budget_per_second, cfg.periodic_budget_per_second}, kPeriodicKeys, clock),
      last_tick_ms_(clock.mono_ms()) {}

static uint32_t retry_seconds(double wait) { return static_cast<uint32_t>(std::ceil(std::max(1.0, wait))); }

AdmissionResult AdmissionController::admit(uint64_t device_key, uint64_t address_key, const store::InfoHash& swarm,
                                           store::Event ev) {
  if (double w = address_.take(address_key)) return {Admission::address_limited, retry_seconds(w)};
  if (double w = device_.take(device_key)) return {Admission::device_limited, retry_seconds(w)};
  if (swarm_.enabled()) {
    uint64_t k;
    std::memcpy(&k, swarm.data(), sizeof k);
    if (double w = swarm_.take(k)) return {Admission::swarm_limited, retry_seconds(w)};
  }
  // Under overload, periodic re-announces wait; started/completed/stopped change the swarm and pass.
  if (ev == store::Event::none && periodic_.enabled())
    if (double w = periodic_.take(0)) {
      double factor = interval_factor();
      return {Admission::shed, retry_seconds(std::max(w, 60.0 * factor))};
    }
  return {};
}

AdmissionResult AdmissionController::admit_address(uint64_t address_key) {
  if (double w = address_.take(address_key)) return {Admission::address_limited, retry_seconds(w)};
  return {};
}

void AdmissionController::record(double latency_s) {
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = latency_sum_.load(std::memory_order_relaxed);
  while (!latency_sum_.compare_exchange_weak(cur, cur + latency_s, std::memory_order_relaxed)) {
  }
}

void AdmissionController::tick() {
  int64_t now = clock_.mono_ms();
  double dt = std::max(0.001, (now - last_tick_ms_) / 1000.0);
  last_tick_ms_ = now;
  uint64_t n = count_.exchange(0, std::memory_order_relaxed);
  double lat = latency_sum_.exchange(0, std::memory_order_relaxed);
  double rate = n / dt;
  rate_.store(rate, std::memory_order_relaxed);
  double mean_latency = n ? lat / n : 0;
  double load = std::max(cfg_.target_rate > 0 ? rate / cfg_.target_rate : 0,
                         cfg_.target_latency_s > 0 ? mean_latency / cfg_.target_latency_s : 0);
  double target = std::clamp(load, 1.0, cfg_.max_interval_factor);
  double f = factor_.load(std::memory_order_relaxed);
  factor_.store(f + cfg_.smoothing * (target - f), std::memory_order_relaxed);
}

void AdmissionController::sweep() {
  device_.sweep();
  address_.sweep();
  swarm_.sweep();
}

void QueueDelayGate::sample(double delay_ms) {
  if (!enabled()) return;
  int64_t now = clock_.mono_ms();
  if (now - last_sample_ms_ >= kStaleMs) {  // a gap in traffic: earlier samples say nothing about the queue now
    above_since_ms_ = -1;
    episode_until_ms_ = -1;
  }
  last_sample_ms_ = now;
  last_delay_ms_ = delay_ms;
  if (delay_ms <= cfg_.queue_delay_ms) {
    above_since_ms_ = -1;
    return;
  }
  if (above_since_ms_ < 0) above_since_ms_ = now;
  bool in_episode = now < episode_until_ms_;
  if (in_episode || now - above_since_ms_ >= kShedConfirmMs) episode_until_ms_ = now + kHoldMs;
}

bool QueueDelayGate::in_episode() const {
  int64_t now = clock_.mono_ms();
  return enabled() && now < episode_until_ms_ && now - last_sample_ms_ < kStaleMs;
}

bool QueueDelayGate::shedding() const { return last_delay_ms_ > cfg_.queue_delay_ms && in_episode(); }

QueueDelayGate::Verdict QueueDelayGate::next() {
  if (!shedding()) {
    reply_credit_ = std::min(reply_burst_, reply_credit_ + cfg_.busy_per_answer);
    return Verdict::handle;
  }
  if (reply_credit_ < 1) return Verdict::drop;
  reply_credit_ -= 1;
  return Verdict::busy_reply;
}

}  // namespace otaswarm

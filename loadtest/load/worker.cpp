#include "loadtest/load/worker.h"

#include <algorithm>

namespace otaswarm::loadtest {
namespace {
inline constexpr double kNsPerSecond = 1e9;
}

Worker::Worker(WorkerConfig config) : config_(std::move(config)) {
  share_total_ = Schedule::share(config_.schedule->total(), config_.index, config_.count);
  uint32_t phones = config_.population->size();
  local_phones_ = phones > config_.index ? (phones - config_.index - 1) / config_.count + 1 : 0;
}

int64_t Worker::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - config_.start)
      .count();
}

void Worker::run() {
  next_tick_ = config_.start;
  arm_tick();
  io_.run();
}

void Worker::arm_tick() {
  tick_.expires_at(next_tick_);
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

void Worker::on_tick() {
  const int64_t now = now_ns();
  const Schedule& sched = *config_.schedule;
  if (config_.stop->load(std::memory_order_relaxed) || local_phones_ == 0) scheduling_done_ = true;
  if (!scheduling_done_) {
    uint64_t due = std::min(share_total_, Schedule::share(sched.due(now / kNsPerSecond), config_.index, config_.count));
    for (; issued_ < due; ++issued_) {
      uint64_t global = Schedule::global_index(issued_, config_.index, config_.count);
      double due_s = sched.time_of(global);
      int64_t lag = now - static_cast<int64_t>(due_s * kNsPerSecond);
      if (lag > 0) stats_.max_lag_ns = std::max(stats_.max_lag_ns, static_cast<uint64_t>(lag));
      if (lag > kLateThresholdNs) ++stats_.late_requests;
      Phase phase = sched.phase_at(due_s);
      uint32_t phone = static_cast<uint32_t>(issued_ % local_phones_) * config_.count + config_.index;
      stats_.phases[static_cast<unsigned>(phase)].offered++;
      stats_.second(static_cast<int64_t>(due_s * kNsPerSecond)).offered++;
      live_.offered.fetch_add(1, std::memory_order_relaxed);
      issue(phone, phase, now);
    }
    if (issued_ >= share_total_ || now >= static_cast<int64_t>(sched.duration_s() * kNsPerSecond))
      scheduling_done_ = true;
  }
  sweep(now);
  update_inflight();
  if (scheduling_done_ && inflight() == 0) {
    shutdown();
    return;
  }
  next_tick_ += kTickInterval;
  // When this thread fell behind, do not replay missed ticks one by one: catch up at once.
  auto real_now = std::chrono::steady_clock::now();
  if (next_tick_ < real_now) next_tick_ = real_now;
  arm_tick();
}

void Worker::record_sent(Phase phase, Event event) {
  stats_.phases[static_cast<unsigned>(phase)].sent++;
  stats_.events[static_cast<unsigned>(event)]++;
}

void Worker::record_answer(Phase phase, int64_t sent_ns, int64_t now) {
  uint64_t latency = now > sent_ns ? static_cast<uint64_t>(now - sent_ns) : 0;
  auto& p = stats_.phases[static_cast<unsigned>(phase)];
  p.answered++;
  p.latency.record_ns(latency);
  auto& s = stats_.second(now);
  s.answered++;
  s.latency.record_ns(latency);
  live_.answered.fetch_add(1, std::memory_order_relaxed);
}

void Worker::record_error(Phase phase, ErrorKind kind, int64_t now) {
  stats_.phases[static_cast<unsigned>(phase)].errors[static_cast<unsigned>(kind)]++;
  stats_.second(now).failed++;
  live_.failed.fetch_add(1, std::memory_order_relaxed);
}

void Worker::record_timeout(Phase phase, int64_t now) {
  stats_.phases[static_cast<unsigned>(phase)].timeouts++;
  stats_.second(now).failed++;
  live_.failed.fetch_add(1, std::memory_order_relaxed);
}

void Worker::record_not_sent(Phase phase, NotSentKind kind) {
  stats_.phases[static_cast<unsigned>(phase)].not_sent[static_cast<unsigned>(kind)]++;
}

}  // namespace otaswarm::loadtest

#include "tracker/loop_lag.h"

#include <boost/asio/post.hpp>

namespace otaswarm {

LoopLagProbe::LoopLagProbe(IoPool& pool, ShedConfig cfg, const Clock& clock) : cfg_(cfg) {
  if (!enabled()) return;
  for (size_t i = 0; i < pool.size(); ++i) probes_.push_back(std::make_unique<Probe>(pool.at(i), cfg, clock));
}

void LoopLagProbe::arm(Probe& p) {
  if (stopped_.load(std::memory_order_relaxed)) return;
  p.armed = true;
  p.timer.expires_after(kPeriod);
  p.timer.async_wait([this, &p](const boost::system::error_code& ec) {
    p.armed = false;
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    p.gate.sample(std::chrono::duration<double, std::milli>(now - p.timer.expiry()).count());
    if (now - p.last_use < kIdleMs) arm(p);
  });
}

void LoopLagProbe::start() {
  auto now = std::chrono::steady_clock::now();
  for (auto& p : probes_) {
    p->last_use = now;
    boost::asio::post(p->ctx, [this, q = p.get()] { arm(*q); });
  }
}

void LoopLagProbe::stop() {
  stopped_ = true;
  for (auto& p : probes_) boost::asio::post(p->ctx, [q = p.get()] { q->timer.cancel(); });
}

QueueDelayGate* LoopLagProbe::gate_here() {
  for (auto& p : probes_) {
    if (!p->ctx.get_executor().running_in_this_thread()) continue;
    p->last_use = std::chrono::steady_clock::now();
    if (!p->armed) arm(*p);
    return &p->gate;
  }
  return nullptr;
}

}  // namespace otaswarm

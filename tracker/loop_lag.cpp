#include "tracker/loop_lag.h"

#include <boost/asio/post.hpp>

namespace otaswarm {

LoopLagProbe::LoopLagProbe(IoPool& pool, ShedConfig cfg, const Clock& clock) : cfg_(cfg) {
  if (!enabled()) return;
  for (size_t i = 0; i < pool.size(); ++i) probes_.push_back(std::make_unique<Probe>(pool.at(i), cfg, clock));
}

void LoopLagProbe::arm(Probe& p) {
  p.timer.expires_after(kPeriod);
  p.timer.async_wait([&p](const boost::system::error_code& ec) {
    if (ec) return;
    auto late = std::chrono::steady_clock::now() - p.timer.expiry();
    p.gate.sample(std::chrono::duration<double, std::milli>(late).count());
    arm(p);
  });
}

void LoopLagProbe::start() {
  for (auto& p : probes_) boost::asio::post(p->ctx, [q = p.get()] { arm(*q); });
}

void LoopLagProbe::stop() {
  for (auto& p : probes_) boost::asio::post(p->ctx, [q = p.get()] { q->timer.cancel(); });
}

QueueDelayGate* LoopLagProbe::gate_here() {
  for (auto& p : probes_)
    if (p->ctx.get_executor().running_in_this_thread()) return &p->gate;
  return nullptr;
}

}  // namespace otaswarm

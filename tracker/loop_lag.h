#pragma once
// Queue delay of an I/O thread's event loop, for shedding HTTP announces: a TCP request has no
// kernel receive stamp, but whatever is ready on a saturated thread (accepts, reads, handlers)
// waits about one pass of its loop, and a timer that should fire every kPeriod fires that late.
// One probe timer and one QueueDelayGate per context of the pool; each gate is touched only by
// its own thread. A probe runs only while its thread serves HTTP announces (it stops kIdleMs
// after the last one and the next one restarts it), so a UDP-only thread pays no timer wake-ups.
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "common/io_pool.h"
#include "tracker/admission.h"

namespace otaswarm {

class LoopLagProbe {
 public:
  static constexpr std::chrono::milliseconds kPeriod{5};
  static constexpr std::chrono::milliseconds kIdleMs{2000};
  LoopLagProbe(IoPool& pool, ShedConfig cfg, const Clock& clock);
  bool enabled() const { return cfg_.queue_delay_ms > 0; }
  void start();  // arms the timers (their handlers run once the pool runs)
  void stop();   // cancels them, so the pool can drain
  // The calling pool thread's gate (its probe restarted if idle); nullptr on any other thread or when off.
  QueueDelayGate* gate_here();

 private:
  struct Probe {
    Probe(boost::asio::io_context& c, ShedConfig cfg, const Clock& clock) : ctx(c), timer(c), gate(cfg, clock) {}
    boost::asio::io_context& ctx;
    boost::asio::steady_timer timer;
    QueueDelayGate gate;
    bool armed = false;
    std::chrono::steady_clock::time_point last_use{};
  };
  void arm(Probe& p);
  ShedConfig cfg_;
  std::vector<std::unique_ptr<Probe>> probes_;
  std::atomic<bool> stopped_{false};
};

}  // namespace otaswarm

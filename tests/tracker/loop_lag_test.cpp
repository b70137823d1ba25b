// The HTTP event-loop lag probe: a blocked I/O thread starts a shedding episode on its own gate.
#include "tracker/loop_lag.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "common/clock.h"
#include "common/io_pool.h"

namespace otaswarm {
namespace {

TEST(LoopLagProbe, ABlockedLoopStartsAnEpisodeOnItsOwnThreadOnly) {
  SystemClock clock;
  IoPool pool(1);
  LoopLagProbe probe(pool, {.queue_delay_ms = 20}, clock);
  ASSERT_TRUE(probe.enabled());
  probe.start();
  pool.start();
  EXPECT_EQ(probe.gate_here(), nullptr);  // not a pool thread
  std::promise<bool> episode;
  // Each handler blocks the loop 60 ms and posts the next, so the probe timer runs late in between.
  std::function<void(int)> block = [&](int left) {
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    if (left > 0) return boost::asio::post(pool.at(0), [&block, left] { block(left - 1); });
    boost::asio::post(pool.at(0), [&] {
      QueueDelayGate* g = probe.gate_here();
      episode.set_value(g && g->in_episode());
    });
  };
  boost::asio::post(pool.at(0), [&block] { block(6); });
  auto f = episode.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(f.get());
  probe.stop();
  pool.drain_and_join();
}

TEST(LoopLagProbe, OffWhenTargetIsZero) {
  SystemClock clock;
  IoPool pool(1);
  LoopLagProbe probe(pool, {.queue_delay_ms = 0}, clock);
  EXPECT_FALSE(probe.enabled());
  probe.start();
  pool.start();
  std::promise<QueueDelayGate*> here;
  boost::asio::post(pool.at(0), [&] { here.set_value(probe.gate_here()); });
  EXPECT_EQ(here.get_future().get(), nullptr);
  pool.drain_and_join();
}

}  // namespace
}  // namespace otaswarm

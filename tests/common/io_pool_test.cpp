#include "common/io_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <atomic>
#include <thread>
#include <vector>

#include "common/metrics.h"

namespace otaswarm {
namespace {

TEST(IoPool, WorkPostedFromManyThreadsRunsOnceAndDrains) {
  IoPool pool(2);
  pool.start();
  metrics::Registry reg;
  auto& handled = reg.counter("otaswarm_test_handled_total", "handled", {"thread"});
  auto& latency = reg.histogram("otaswarm_test_seconds", "latency", {}, {0.001, 0.01, 0.1});
  std::atomic<int> ran{0};
  constexpr int kPosters = 4, kPerPoster = 2000;
  std::vector<std::thread> posters;
  for (int t = 0; t < kPosters; ++t)
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerPoster; ++i)
        boost::asio::post(pool.next(), [&, t] {
          ran.fetch_add(1, std::memory_order_relaxed);
          // New label values are created from several threads at once; increments are lock-free.
          handled.with({std::to_string(t)}).inc();
          latency.get().observe(0.005);
        });
    });
  // Scrapes merge the counters while the pool's threads increment them.
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) EXPECT_FALSE(reg.expose().empty());
  });
  for (auto& th : posters) th.join();
  pool.drain_and_join();
  done = true;
  scraper.join();
  EXPECT_EQ(ran.load(), kPosters * kPerPoster);
  uint64_t total = 0;
  for (int t = 0; t < kPosters; ++t) total += handled.with({std::to_string(t)}).value();
  EXPECT_EQ(total, static_cast<uint64_t>(kPosters * kPerPoster));
  EXPECT_EQ(latency.get().snapshot().count, static_cast<uint64_t>(kPosters * kPerPoster));
}

TEST(IoPool, StopNowJoinsWithWorkStillQueued) {
  IoPool pool(2);
  pool.start();
  std::atomic<int> ran{0};
  for (int i = 0; i < 1000; ++i) boost::asio::post(pool.next(), [&] { ran.fetch_add(1); });
  pool.stop_now();
  EXPECT_LE(ran.load(), 1000);
}

}  // namespace
}  // namespace otaswarm

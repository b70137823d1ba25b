#include "loadtest/load/runner.h"

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "loadtest/load/http_worker.h"
#include "loadtest/load/udp_worker.h"

namespace otaswarm::loadtest {
namespace {
// Lets every worker set up its sockets before the first request is due.
inline constexpr auto kStartDelay = std::chrono::milliseconds(100);
inline constexpr auto kPollInterval = std::chrono::milliseconds(50);
inline constexpr auto kProgressInterval = std::chrono::seconds(1);
}  // namespace

LoadResult run_load(const LoadOptions& o, const std::atomic<bool>& stop) {
  Schedule schedule(o.rate, o.ramp_s, o.duration_s, o.max_requests);
  Population population(o.population);
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < o.threads; ++i) {
    WorkerConfig c;
    c.index = i;
    c.count = o.threads;
    c.schedule = &schedule;
    c.population = &population;
    c.target = o.target;
    c.max_inflight = std::max<uint32_t>(1, o.concurrency / o.threads);
    c.timeout_ns = o.timeout_ns;
    c.numwant = o.numwant;
    c.stop = &stop;
    if (o.target.protocol == Protocol::udp) workers.push_back(std::make_unique<UdpWorker>(c));
    else workers.push_back(std::make_unique<HttpWorker>(c));
  }
  for (auto& w : workers) w->prepare();
  const auto start = std::chrono::steady_clock::now() + kStartDelay;
  for (auto& w : workers) w->set_start(start);

  std::atomic<unsigned> finished{0};
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&w, &finished] {
      w->run();
      finished.fetch_add(1);
    });

  auto next_progress = start + kProgressInterval;
  uint64_t last_offered = 0, last_answered = 0;
  while (finished.load() < workers.size()) {
    std::this_thread::sleep_for(kPollInterval);
    auto now = std::chrono::steady_clock::now();
    if (!o.progress || now < next_progress) continue;
    next_progress += kProgressInterval;
    uint64_t offered = 0, answered = 0, failed = 0, inflight = 0;
    for (auto& w : workers) {
      offered += w->live().offered.load(std::memory_order_relaxed);
      answered += w->live().answered.load(std::memory_order_relaxed);
      failed += w->live().failed.load(std::memory_order_relaxed);
      inflight += w->live().inflight.load(std::memory_order_relaxed);
    }
    double t = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "[%6.1fs] offered %8llu/s  answered %8llu/s  failed %llu  in flight %llu\n", t,
                 static_cast<unsigned long long>(offered - last_offered),
                 static_cast<unsigned long long>(answered - last_answered),
                 static_cast<unsigned long long>(failed), static_cast<unsigned long long>(inflight));
    last_offered = offered;
    last_answered = answered;
  }
  for (auto& t : threads) t.join();

  LoadResult r;
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.slots = population.slots();
  for (auto& w : workers) r.stats.merge(w->stats());
  return r;
}

}  // namespace otaswarm::loadtest

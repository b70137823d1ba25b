// Announce cost of the Redis store against a real redis-server, at swarm sizes 10^3 and 10^6,
// next to the in-memory store: latency of one announce (one round trip, numwant 50) and
// throughput with many announces in flight on the store's single pipelined connection.
// Figures go to docs/benchmarks.md ("Redis store"); ctest only runs a tiny smoke (label bench).
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "tracker/store/memory_store.h"
#include "tracker/store/redis_store.h"
#include "tracker/store/store_factory.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::store {
namespace {

constexpr uint32_t kNumwant = 50;
constexpr size_t kPopulateInFlight = 256;  // bounded pipeline while filling a swarm
constexpr auto kBenchDeadline = std::chrono::milliseconds(5000);
constexpr size_t kThroughputBatch = 2000;   // announces per throughput iteration
constexpr size_t kThroughputInFlight = 64;  // below the 300 ms announce deadline at Redis's rate
constexpr uint32_t kIsps = 20;
constexpr uint32_t kRegions = 5;

testing::RedisServer& server() {
  static testing::RedisServer s(false);
  return s;
}

SwarmStore& store_for(const std::string& backend) {
  static std::map<std::string, std::unique_ptr<SwarmStore>> stores;
  auto& s = stores[backend];
  if (!s) {
    MemoryStoreOptions o;
    o.peer_timeout_ms = 4 * 3600 * 1000;  // nothing expires during a run
    std::string err;
    if (backend == "redis") {
      RedisStoreOptions ro;
      ro.memory = o;
      // A generous deadline: the figures are about Redis, not about the degraded fallback.
      ro.announce_timeout = kBenchDeadline;
      auto url = parse_store_url("redis://" + server().address(), err);
      s = std::make_unique<RedisStore>(make_redis_client(*url), ro, SystemClock::instance(), nullptr);
    } else {
      s = make_store("memory", o, SystemClock::instance(), nullptr, err);
    }
    std::string why;
    for (int i = 0; i < 500 && !s->healthy(why); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return *s;
}

InfoHash hash_for(size_t size) {
  InfoHash h{};
  h.fill(0x5A);
  std::memcpy(h.data(), &size, sizeof size);
  return h;
}

AnnounceOp op_for(size_t size, uint64_t i, uint32_t numwant) {
  AnnounceOp op;
  op.info_hash = hash_for(size);
  op.peer.device = "p" + std::to_string(i);
  op.peer.peer_id.fill(static_cast<uint8_t>(i));
  std::memcpy(op.peer.peer_id.data(), &i, sizeof i);
  op.peer.ip.b = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
  op.peer.port = static_cast<uint16_t>(1024 + i % 60000);
  op.peer.left = i % 3 == 0 ? 0 : 1000;
  op.peer.loc.isp = 1 + static_cast<uint32_t>(i % kIsps);
  op.peer.loc.region = 1 + static_cast<uint32_t>(i % kRegions);
  op.peer.reach = static_cast<Reach>(i % kReachCount);
  op.policy.numwant = numwant;
  return op;
}

// Announces [0, n) with at most `in_flight` outstanding; returns how many failed.
size_t run_batch(SwarmStore& s, size_t size, uint64_t first, size_t n, size_t in_flight, uint32_t numwant) {
  std::mutex mu;
  std::condition_variable cv;
  size_t outstanding = 0, done = 0, failed = 0;
  for (size_t i = 0; i < n; ++i) {
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return outstanding < in_flight; });
      ++outstanding;
    }
    s.announce(op_for(size, first + i, numwant), [&](Status st, AnnounceResult&& r) {
      std::lock_guard lk(mu);
      --outstanding;
      ++done;
      if (st != Status::ok || r.interval_hint) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return done == n; });
  return failed;
}

void populate(const std::string& backend, size_t size) {
  static std::set<std::pair<std::string, size_t>> done;
  if (!done.insert({backend, size}).second) return;
  auto t0 = std::chrono::steady_clock::now();
  size_t failed = run_batch(store_for(backend), size, 0, size, kPopulateInFlight, 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string mem;
  if (backend == "redis") {
    std::string info = server().command({"INFO", "memory"});
    auto at = info.find("used_memory_human:");
    if (at != std::string::npos) mem = info.substr(at + 18, info.find('\r', at) - at - 18);
  }
  std::fprintf(stderr, "populated %s swarm of %zu peers in %.1f s (%.0f announces/s, %zu degraded)%s%s\n",
               backend.c_str(), size, secs, size / secs, failed, mem.empty() ? "" : ", redis used_memory ", mem.c_str());
}

void BM_AnnounceLatency(benchmark::State& state, std::string backend) {
  size_t size = static_cast<size_t>(state.range(0));
  populate(backend, size);
  SwarmStore& s = store_for(backend);
  std::mt19937_64 rng(42);
  size_t peers = 0;
  for (auto _ : state) {
    std::promise<size_t> p;
    s.announce(op_for(size, rng() % size, kNumwant),
               [&](Status st, AnnounceResult&& r) { p.set_value(st == Status::ok ? r.peers.size() : 0); });
    peers += p.get_future().get();
  }
  state.counters["peers_per_reply"] = benchmark::Counter(static_cast<double>(peers) / state.iterations());
}

// Redis server CPU seconds (user + system) so far: unaffected by how busy the shared machine is.
double redis_cpu_seconds() {
  std::string info = server().command({"INFO", "cpu"});
  double total = 0;
  for (const char* field : {"used_cpu_user:", "used_cpu_sys:"}) {
    auto at = info.find(field);
    if (at != std::string::npos) total += std::strtod(info.c_str() + at + std::strlen(field), nullptr);
  }
  return total;
}

void BM_AnnounceThroughput(benchmark::State& state, std::string backend) {
  size_t size = static_cast<size_t>(state.range(0));
  populate(backend, size);
  SwarmStore& s = store_for(backend);
  uint64_t next = 0;
  size_t failed = 0;
  double cpu0 = backend == "redis" ? redis_cpu_seconds() : 0;
  for (auto _ : state) {
    failed += run_batch(s, size, next % size, kThroughputBatch, kThroughputInFlight, kNumwant);
    next += kThroughputBatch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kThroughputBatch));
  state.counters["failed"] = static_cast<double>(failed);
  if (backend == "redis")
    state.counters["redis_cpu_us_per_announce"] =
        (redis_cpu_seconds() - cpu0) * 1e6 / static_cast<double>(state.iterations() * kThroughputBatch);
}

BENCHMARK_CAPTURE(BM_AnnounceLatency, memory, std::string("memory"))
    ->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_AnnounceLatency, redis, std::string("redis"))
    ->Arg(1000)->Arg(1000000)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_AnnounceThroughput, memory, std::string("memory"))
    ->Arg(1000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_AnnounceThroughput, redis, std::string("redis"))
    ->Arg(1000)->Arg(1000000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace otaswarm::store

BENCHMARK_MAIN();

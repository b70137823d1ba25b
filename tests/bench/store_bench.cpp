// Announce cost of the swarm stores, side by side in one run: the in-memory store and the
// Redis streams store (selection in replica memory, per-shard streams), on a real
// redis-server and on a real 3-master cluster. One release, numwant 50. (The Lua store it
// replaced was measured with this benchmark before it was removed: docs/benchmarks.md.) Figures go to docs/benchmarks.md ("Redis store");
// ctest only runs a tiny smoke (label bench).
//
// Per backend: latency of one announce, throughput with many in flight, Redis CPU per announce
// (Δ used_cpu_user + used_cpu_sys of every master / announces) and the busiest master's share,
// Redis memory per peer (Δ used_memory summed over the masters), and for the streams store
// the convergence time: a peer announced to replica A, until replica B's view holds it.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tracker/store/memory_store.h"
#include "tracker/store/redis_stream_store.h"
#include "tracker/store/store_factory.h"
#include "tests/support/redis_fixture.h"

namespace otaswarm::store {
namespace {

constexpr uint32_t kNumwant = 50;
constexpr size_t kPopulateInFlight = 256;  // bounded pipeline while filling a swarm
constexpr size_t kThroughputBatch = 2000;   // announces per throughput iteration
constexpr size_t kThroughputInFlight = 64;  // below the 300 ms announce deadline at Redis's rate
constexpr uint32_t kIsps = 20;
constexpr uint32_t kRegions = 5;

testing::RedisServer& server(const std::string& backend) {
  (void)backend;
  static testing::RedisServer s(false);
  return s;
}

bool is_cluster(const std::string& b) { return b.rfind("cluster", 0) == 0; }
bool is_streams(const std::string& b) { return b.find("streams") != std::string::npos; }

// The nodes whose CPU and memory count: the server, or the cluster's current masters.
std::vector<testing::RedisServer*> masters(const std::string& backend) {
  if (!is_cluster(backend)) return {&server(backend)};
  std::vector<testing::RedisServer*> out;
  for (auto& n : testing::shared_cluster().nodes())
    if (n->running() && n->command({"INFO", "replication"}).find("role:master") != std::string::npos)
      out.push_back(n.get());
  return out;
}

double info_field(testing::RedisServer& s, const char* section, const char* field) {
  std::string info = s.command({"INFO", section});
  auto at = info.find(field);
  return at == std::string::npos ? 0 : std::strtod(info.c_str() + at + std::strlen(field), nullptr);
}

std::vector<double> cpu_seconds(const std::vector<testing::RedisServer*>& ms) {
  std::vector<double> out;
  for (auto* m : ms) out.push_back(info_field(*m, "cpu", "used_cpu_user:") + info_field(*m, "cpu", "used_cpu_sys:"));
  return out;
}

double used_memory(const std::vector<testing::RedisServer*>& ms) {
  double t = 0;
  for (auto* m : ms) t += info_field(*m, "memory", "used_memory:");
  return t;
}

std::string url_for(const std::string& backend) {
  return is_cluster(backend) ? testing::shared_cluster().url() : "redis://" + server(backend).address();
}

MemoryStoreOptions memory_options() {
  MemoryStoreOptions o;
  o.peer_timeout_ms = 4 * 3600 * 1000;  // nothing expires during a run
  return o;
}

// replica 0 = the store under test; replica 1 = a second tracker replica on the same Redis
// (streams store: it follows the release, so its reads are part of the Redis CPU).
SwarmStore& store_for(const std::string& backend, int replica = 0) {
  static std::map<std::pair<std::string, int>, std::unique_ptr<SwarmStore>> stores;
  auto& s = stores[{backend, replica}];
  if (!s) {
    std::string err;
    if (backend == "memory") {
      s = make_store("memory", memory_options(), SystemClock::instance(), nullptr, err);
    } else {
      RedisStreamStoreOptions o;
      o.memory = memory_options();
      auto url = parse_store_url(url_for(backend), err);
      s = std::make_unique<RedisStreamStore>(make_redis_client(*url), o, SystemClock::instance(), nullptr);
    }
    std::string why;
    for (int i = 0; i < 1000 && !s->healthy(why); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
  op.peer.uploaded = i;  // a changing byte count: every announce is a real (published) one
  op.peer.loc.isp = 1 + static_cast<uint32_t>(i % kIsps);
  op.peer.loc.region = 1 + static_cast<uint32_t>(i % kRegions);
  op.peer.reach = static_cast<Reach>(i % kReachCount);
  op.policy.numwant = numwant;
  return op;
}

// Announces [first, first + n) modulo the swarm size with at most `in_flight` outstanding;
// returns how many failed or were answered degraded.
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
    s.announce(op_for(size, (first + i) % size, numwant), [&](Status st, AnnounceResult&& r) {
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

size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

std::map<std::pair<std::string, size_t>, double> g_redis_before;  // used_memory before populating

void populate(const std::string& backend, size_t size) {
  static std::set<std::pair<std::string, size_t>> done;
  if (!done.insert({backend, size}).second) return;
  SwarmStore& s = store_for(backend);
  if (is_streams(backend)) {
    // The second replica serves the release from the start (its first announce follows it).
    std::promise<void> p;
    store_for(backend, 1).announce(op_for(size, size + 1, 0), [&](Status, AnnounceResult&&) { p.set_value(); });
    p.get_future().wait();
  }
  if (backend != "memory") g_redis_before[{backend, size}] = used_memory(masters(backend));
  size_t rss0 = rss_bytes();
  auto t0 = std::chrono::steady_clock::now();
  size_t failed = run_batch(s, size, 0, size, kPopulateInFlight, 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "populated %s swarm of %zu peers in %.1f s (%.0f announces/s, %zu degraded)", backend.c_str(),
               size, secs, size / secs, failed);
  if (backend == "memory")
    std::fprintf(stderr, ", process RSS +%.0f bytes per peer", double(rss_bytes() - rss0) / double(size));
  std::fprintf(stderr, "\n");
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

void BM_AnnounceThroughput(benchmark::State& state, std::string backend) {
  size_t size = static_cast<size_t>(state.range(0));
  populate(backend, size);
  SwarmStore& s = store_for(backend);
  uint64_t next = 0;
  size_t failed = 0;
  auto ms = backend == "memory" ? std::vector<testing::RedisServer*>{} : masters(backend);
  auto cpu0 = cpu_seconds(ms);
  RedisStreamStore::Stats st0;
  if (is_streams(backend)) st0 = static_cast<RedisStreamStore&>(s).stats();
  for (auto _ : state) {
    failed += run_batch(s, size, next, kThroughputBatch, kThroughputInFlight, kNumwant);
    next += kThroughputBatch;
  }
  double announces = static_cast<double>(state.iterations() * kThroughputBatch);
  state.SetItemsProcessed(static_cast<int64_t>(announces));
  state.counters["failed"] = static_cast<double>(failed);
  if (ms.empty()) return;
  // Let the readers drain what was published, so their work is in the figure too.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto cpu1 = cpu_seconds(ms);
  double total = 0, top = 0;
  for (size_t i = 0; i < ms.size(); ++i) {
    total += cpu1[i] - cpu0[i];
    top = std::max(top, cpu1[i] - cpu0[i]);
  }
  state.counters["redis_cpu_us_per_announce"] = total * 1e6 / announces;
  state.counters["busiest_master_share"] = total > 0 ? top / total : 0;
  if (is_streams(backend)) {
    auto st1 = static_cast<RedisStreamStore&>(s).stats();
    state.counters["published_per_announce"] = double(st1.published - st0.published) / announces;
    state.counters["shed"] = double(st1.shed - st0.shed);
  }
}

// Redis memory per peer of the swarm, after the runs above (streams: bounded streams + snapshots).
void BM_RedisMemory(benchmark::State& state, std::string backend) {
  size_t size = static_cast<size_t>(state.range(0));
  populate(backend, size);
  if (is_streams(backend)) std::this_thread::sleep_for(std::chrono::seconds(1));  // snapshots land
  double bytes = 0;
  for (auto _ : state) bytes = used_memory(masters(backend)) - g_redis_before[{backend, size}];
  state.counters["redis_bytes_per_peer"] = bytes / static_cast<double>(size);
}

// A new peer announced to replica A (under a background load on A), until replica B's local
// view holds it: the time for "handed out by B". p50 / p99 over the iterations.
void BM_Convergence(benchmark::State& state, std::string backend) {
  size_t size = static_cast<size_t>(state.range(0));
  populate(backend, size);
  auto& a = static_cast<RedisStreamStore&>(store_for(backend, 0));
  auto& b = static_cast<RedisStreamStore&>(store_for(backend, 1));
  InfoHash h = hash_for(size);
  std::atomic<bool> stop{false};
  std::thread load([&] {
    uint64_t next = 7;
    while (!stop) {
      run_batch(a, size, next, 200, kThroughputInFlight, kNumwant);
      next += 200;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // ~10,000 announces/s offered
    }
  });
  std::vector<double> ms;
  uint64_t probe = 0;
  for (auto _ : state) {
    size_t before = b.local_view().peer_count(h);
    AnnounceOp op = op_for(size, size + 1000 + probe++, 0);
    auto t0 = std::chrono::steady_clock::now();
    std::promise<void> p;
    a.announce(op, [&](Status, AnnounceResult&&) { p.set_value(); });
    p.get_future().wait();
    auto limit = t0 + std::chrono::seconds(10);
    while (b.local_view().peer_count(h) <= before && std::chrono::steady_clock::now() < limit)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  stop = true;
  load.join();
  std::sort(ms.begin(), ms.end());
  state.counters["p50_ms"] = ms[ms.size() / 2];
  state.counters["p99_ms"] = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  state.counters["max_ms"] = ms.back();
}

#define STORE_BENCHES(name)                                                                                  \
  BENCHMARK_CAPTURE(BM_AnnounceLatency, name, std::string(#name))                                           \
      ->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond)->UseRealTime();                               \
  BENCHMARK_CAPTURE(BM_AnnounceThroughput, name, std::string(#name))                                        \
      ->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

STORE_BENCHES(memory)
STORE_BENCHES(redis_streams)
STORE_BENCHES(cluster_streams)
BENCHMARK_CAPTURE(BM_RedisMemory, redis_streams, std::string("redis_streams"))->Arg(1000)->Arg(100000)->Iterations(1);
BENCHMARK_CAPTURE(BM_RedisMemory, cluster_streams, std::string("cluster_streams"))
    ->Arg(1000)->Arg(100000)->Iterations(1);
BENCHMARK_CAPTURE(BM_Convergence, redis_streams, std::string("redis_streams"))
    ->Arg(1000)->Arg(100000)->Iterations(200)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Convergence, cluster_streams, std::string("cluster_streams"))
    ->Arg(1000)->Arg(100000)->Iterations(200)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace otaswarm::store

BENCHMARK_MAIN();

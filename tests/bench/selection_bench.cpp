// Announce cost of the in-memory store against swarm size: with locality groups the
// cost of one announce (upsert + numwant selection) must not grow with the swarm.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <string>

#include "common/clock.h"
#include "tracker/store/memory_store.h"

namespace {

using namespace otaswarm;

constexpr uint32_t kIsps = 50;
constexpr uint32_t kRegions = 8;

store::PeerData make_peer(uint64_t i) {
  store::PeerData p;
  p.device = "device-" + std::to_string(i);
  std::memcpy(p.peer_id.data(), &i, sizeof i);
  uint32_t ip = 0x0a000000u + static_cast<uint32_t>(i);
  std::memcpy(p.ip.b.data(), &ip, 4);
  p.port = static_cast<uint16_t>(1024 + i % 60000);
  p.loc.isp = 1 + static_cast<uint32_t>(i % kIsps);
  p.loc.region = 1 + static_cast<uint32_t>(i % kRegions);
  p.loc.lan = i % 100 == 0 ? 1000 + i / 1000 : 0;
  p.reach = static_cast<store::Reach>(i % store::kReachCount);
  p.left = i % 5 == 0 ? 0 : 1000;
  return p;
}

struct Fixture {
  ManualClock clock;
  std::unique_ptr<store::MemoryStore> store;
  store::InfoHash ih{};
  explicit Fixture(int64_t n) {
    store::MemoryStoreOptions o;
    o.seed = 42;
    store = std::make_unique<store::MemoryStore>(o, clock);
    ih[0] = 1;
    store::AnnounceOp op;
    op.info_hash = ih;
    op.policy.numwant = 0;
    for (int64_t i = 0; i < n; ++i) {
      op.peer = make_peer(static_cast<uint64_t>(i));
      store::AnnounceResult r;
      store->announce_sync(op, r);
    }
  }
};

// Re-announce of existing peers with numwant 50 under the locality + reachability policy.
void BM_Announce(benchmark::State& state, bool locality) {
  Fixture f(state.range(0));
  store::AnnounceOp op;
  op.info_hash = f.ih;
  op.policy.numwant = 50;
  op.policy.locality = locality;
  op.policy.reachability = locality;
  uint64_t i = 0;
  size_t handed = 0;
  for (auto _ : state) {
    op.peer = make_peer((i++ * 7919) % static_cast<uint64_t>(state.range(0)));
    store::AnnounceResult r;
    f.store->announce_sync(op, r);
    handed += r.peers.size();
    benchmark::DoNotOptimize(r);
  }
  state.counters["peers_per_reply"] = benchmark::Counter(static_cast<double>(handed) / state.iterations());
  state.SetItemsProcessed(state.iterations());
}

void BM_AnnounceLocality(benchmark::State& s) { BM_Announce(s, true); }
void BM_AnnounceRandom(benchmark::State& s) { BM_Announce(s, false); }

}  // namespace

BENCHMARK(BM_AnnounceLocality)->RangeMultiplier(10)->Range(100, 1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AnnounceRandom)->RangeMultiplier(10)->Range(100, 1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();

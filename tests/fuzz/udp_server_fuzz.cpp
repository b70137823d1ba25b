// UdpServer::process end to end (BEP 15 parse, connection ids, BEP 41 URL data, handler in
// open mode, reply builders): never crashes, replies at most once, and every reply is a
// well-formed BEP 15 reply echoing the transaction id. A zero connection id in the input
// is replaced by a valid one so the fuzzer reaches the announce and scrape paths.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/io_pool.h"
#include "tracker/store/memory_store.h"
#include "common/metrics.h"
#include "common/proto/bep15.h"
#include "tracker/frontend/udp_server.h"

namespace {

using namespace otaswarm;

constexpr size_t kFuzzMaxSwarms = 64;
constexpr size_t kFuzzMaxPeers = 256;
constexpr uint64_t kFuzzSeed = 3;
constexpr size_t kReplyHeader = 8;

struct World {
  ManualClock clock;
  store::MemoryStore store{{.max_swarms = kFuzzMaxSwarms, .max_peers_per_swarm = kFuzzMaxPeers, .seed = kFuzzSeed},
                           clock};
  ReleaseRegistry registry{nullptr};
  metrics::Registry mreg;
  TrackerMetrics metrics{mreg};
  ConnectionIds ids{"fuzz-connection-id-key", "", clock};
  IoPool pool{1};
  std::unique_ptr<AnnounceHandler> handler;
  std::unique_ptr<UdpServer> server;
  boost::asio::ip::udp::endpoint v4{*net::parse_address("198.51.100.1"), 6881};
  boost::asio::ip::udp::endpoint v6{*net::parse_address("2001:db8::1"), 6881};
  World() {
    TrackerContext ctx;
    ctx.policy.open = true;
    ctx.clock = &clock;
    ctx.registry = &registry;
    ctx.store = &store;
    ctx.metrics = &metrics;
    handler = std::make_unique<AnnounceHandler>(ctx);
    server = std::make_unique<UdpServer>(pool, v4, *handler, ids, metrics);
  }
};

uint32_t be32(const std::string& s, size_t off) {
  auto* p = reinterpret_cast<const uint8_t*>(s.data() + off);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  std::string dgram(reinterpret_cast<const char*>(data), size);
  const auto& from = size % 2 ? w.v6 : w.v4;
  if (dgram.size() >= 16 && dgram.compare(0, 8, std::string(8, '\0')) == 0) {
    uint64_t cid = w.ids.issue(from.address());
    for (int i = 0; i < 8; ++i) dgram[i] = static_cast<char>(cid >> (56 - 8 * i));
  }
  int replies = 0;
  w.server->process(dgram, from, [&](std::string&& reply) {
    if (++replies > 1 || reply.size() < kReplyHeader || dgram.size() < 16) std::abort();
    uint32_t action = be32(reply, 0);
    if (action > static_cast<uint32_t>(udp::Action::error)) std::abort();
    if (be32(reply, 4) != be32(dgram, 12)) std::abort();
    if (action == static_cast<uint32_t>(udp::Action::announce)) {
      size_t peer_size = from.address().is_v6() ? 18 : 6;
      if (reply.size() < 20 || (reply.size() - 20) % peer_size != 0) std::abort();
    }
  });
  return 0;
}

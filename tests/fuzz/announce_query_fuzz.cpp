// HTTP announce and scrape: query parsing, path tokens, and for a parsed announce the whole
// handler (open mode, memory store) plus the bencoded reply, which must decode strictly.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/proto/bencode.h"
#include "common/clock.h"
#include "tracker/store/memory_store.h"
#include "common/percent.h"
#include "tracker/announce.h"

namespace {

using namespace otaswarm;

// Bounds the store so a long fuzzing session does not grow without limit.
constexpr size_t kFuzzMaxSwarms = 64;
constexpr size_t kFuzzMaxPeers = 256;
constexpr uint64_t kFuzzSeed = 1;

struct World {
  ManualClock clock;
  store::MemoryStore store{{.max_swarms = kFuzzMaxSwarms, .max_peers_per_swarm = kFuzzMaxPeers, .seed = kFuzzSeed},
                           clock};
  ReleaseRegistry registry{nullptr};
  std::unique_ptr<AnnounceHandler> handler;
  World() {
    TrackerContext ctx;
    ctx.policy.open = true;
    ctx.policy.trusted_proxies.add(*net::parse_cidr("10.0.0.0/8"));
    ctx.clock = &clock;
    ctx.registry = &registry;
    ctx.store = &store;
    handler = std::make_unique<AnnounceHandler>(ctx);
  }
};

void check_reply(const std::string& body) {
  if (!bencode::decode(body)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // First line: request target ("/announce/<t>?query"); second line, if any: X-Forwarded-For.
  std::string_view target = in.substr(0, in.find('\n'));
  std::string_view forwarded = target.size() < in.size() ? in.substr(target.size() + 1) : std::string_view{};
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view{};

  percent::decode(query, percent::Plus::space);

  AnnounceRequest req;
  req.source = *net::parse_address(size % 2 ? "10.1.2.3" : "2001:db8::1");
  if (!forwarded.empty()) req.forwarded_for = std::string(forwarded);
  std::string token;
  if (token_from_path(path, "announce", token)) req.token = token;
  if (!parse_announce_query(query, req)) {
    req.protocol = size % 3 ? Protocol::http : Protocol::udp;
    w.handler->announce(req, [&](AnnounceResponse&& res) { check_reply(encode_announce(req, res)); });
  }

  ScrapeRequest sreq;
  if (token_from_path(path, "scrape", token)) sreq.token = token;
  if (!parse_scrape_query(query, sreq)) {
    w.handler->scrape(sreq, [](ScrapeResponse&& res) { check_reply(encode_scrape(res)); });
  }
  return 0;
}

// libFuzzer entry point for the rendezvous request handler (Binding, register, connect) over
// UDP and TCP: any bytes give a reply within the amplification bound, or a counted drop.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "common/clock.h"
#include "common/metrics.h"
#include "rendezvous/stun_handler.h"

namespace {
using namespace otaswarm;
using namespace otaswarm::rendezvous;

struct World {
  ManualClock clock;
  metrics::Registry registry;
  Metrics m{registry};
  MemoryRegistrationStore store{1024};
  RelayBudget relay{{1e6, 1e5, 4, 60'000}};
  HandlerConfig cfg;
  std::unique_ptr<StunHandler> handler;
  World() {
    auto ep = [](const char* t) {
      auto hp = net::parse_host_port(t);
      return Endpoint{hp->address, hp->port};
    };
    cfg.local = {ep("192.0.2.1:3478"), ep("192.0.2.1:3479"), ep("192.0.2.2:3478"), ep("192.0.2.2:3479")};
    cfg.has_alt_ip = true;
    cfg.device_keys = token::KeyRing(std::string(32, 'k'));
    cfg.ticket_key = std::string(32, 'k');
    cfg.turn_secret = "turn";
    handler = std::make_unique<StunHandler>(cfg, Shared{store, relay, m, clock});
    store.subscribe("local", [](const Notice&) {});
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto remote = Endpoint{*net::parse_address("203.0.113.9"), 4000};
  for (auto t : {Transport::udp, Transport::tcp}) {
    Result r = w.handler->process(Inbound{in, remote, static_cast<int>(size % kSocketCount), t});
    for (const auto& rep : r.replies) {
      if (rep.from_index < 0 || rep.from_index >= kSocketCount) std::abort();
      bool authenticated = r.outcome == Outcome::ok && otaswarm::stun::parse(in).message.method() != otaswarm::stun::method::binding;
      if (!authenticated && static_cast<double>(rep.bytes.size()) > kMaxAmplification * static_cast<double>(size))
        std::abort();
      if (!otaswarm::stun::parse(rep.bytes).ok()) std::abort();
    }
  }
  return 0;
}

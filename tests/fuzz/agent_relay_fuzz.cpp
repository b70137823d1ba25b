// libFuzzer entry point for what the agent's relay parses (agent/socks5_wire.h,
// agent/announce_rewrite.h, agent/turn_client.h): SOCKS5 UDP headers from libtorrent, BEP 15 announces it rewrites
// and announce replies it filters. Any bytes: a refusal or a result that parses again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/announce_rewrite.h"
#include "agent/socks5_wire.h"
#include "agent/turn_client.h"
#include "common/net.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm;
  std::string in(reinterpret_cast<const char*>(data), size);
  if (auto h = agent::socks5::parse_udp_header(in)) {
    if (h->size > in.size()) std::abort();
    auto again = agent::socks5::parse_udp_header(agent::socks5::udp_header(h->endpoint));
    if (!again || net::unmap(again->endpoint.address()) != net::unmap(h->endpoint.address()) ||
        again->endpoint.port() != h->endpoint.port())
      std::abort();
  }
  std::string d = in;
  if (agent::rewrite_announce(d, 6881, "n1.ticket")) {
    auto pk = udp::parse(d);
    if (pk.error != udp::ParseError::ok || pk.announce.port != 6881) std::abort();
  }
  if (auto r = agent::read_announce_reply(in)) {
    auto again = agent::read_announce_reply(agent::build_announce_reply(*r));
    if (!again || again->peers.size() != r->peers.size()) std::abort();
  }
  // What the TURN server (or anyone spoofing it) sends: ignored, a Data indication, or a
  // reply that moves the client on; never a crash.
  static agent::TurnClient turn{agent::TurnOptions{*net::parse_host_port("192.0.2.3:3478"), "u", "p"}};
  auto now = agent::TurnClock::now();
  turn.start(now);
  (void)turn.poll(now);
  if (auto d = turn.on_datagram(in, now); d && d->payload.size() > in.size()) std::abort();
  return 0;
}

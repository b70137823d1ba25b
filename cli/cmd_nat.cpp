// `otaswarm nat probe`: RFC 5780 NAT behaviour discovery from the device side (mapping,
// filtering, hairpinning, public address) against the rendezvous's two IPs × two ports.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include <chrono>
#include <iostream>

#include "agent/nat_probe_socket.h"
#include "common/config.h"
#include "common/json.h"
#include "common/proto/nat.h"
#include "common/net.h"
#include "cli/cli_args.h"
#include "cli/commands.h"

namespace otaswarm::cli {

namespace {
namespace asio = boost::asio;
using asio::ip::udp;

constexpr const char* kHelp = R"(usage: otaswarm nat probe --stun HOST:PORT [--bind IP:PORT] [--timeout-ms N]
Runs the RFC 5780 tests against an RFC 5780 STUN server (the rendezvous, or coturn with two
addresses) and prints one JSON object:
  {"mapping": M, "filtering": F, "hairpinning": bool|null, "public": bool, "reflexive": "ip:port"}
M and F are "endpoint-independent", "address-dependent", "address-and-port-dependent", or
"unknown" together with an "error" field saying why. --bind picks the local socket (use the
device's data port so the reflexive endpoint is the one peers will see); --timeout-ms is the
wait per test (default 1500).
Exit status: 0 classified, 1 could not classify (JSON still printed), 2 bad arguments.
)";

}  // namespace

int nat_probe(const Args& args) {
  config::Schema schema("otaswarm nat probe", "RFC 5780 NAT behaviour discovery.");
  schema.add("stun", config::Kind::string, "STUN server host:port")
      .add("bind", config::Kind::string, "local ip:port", {""})
      .add("timeout-ms", config::Kind::integer, "wait per test", {std::to_string(agent::kDefaultProbeTimeout.count())});
  auto p = parse_args(schema, args);
  if (p.help_requested) {
    std::cout << kHelp;
    return 0;
  }
  expect_positional(p, 0, "");
  std::string server_text = required(p.values, "stun");
  auto timeout = std::chrono::milliseconds(p.values.integer("timeout-ms", 50, 60'000));

  asio::io_context io;
  udp::endpoint server;
  if (auto hp = net::parse_host_port(server_text)) {
    server = udp::endpoint(hp->address, hp->port);
  } else {
    auto colon = server_text.rfind(':');
    if (colon == std::string::npos || colon == 0) throw config::ConfigError("stun", "expected host:port");
    udp::resolver resolver(io);
    boost::system::error_code ec;
    auto res = resolver.resolve(server_text.substr(0, colon), server_text.substr(colon + 1), ec);
    if (ec || res.empty()) throw config::ConfigError("stun", "cannot resolve \"" + server_text + "\": " + ec.message());
    server = *res.begin();
  }
  udp::endpoint bind(server.address().is_v4() ? asio::ip::address(asio::ip::address_v4::any())
                                              : asio::ip::address(asio::ip::address_v6::any()), 0);
  if (!p.values.str("bind").empty()) {
    auto hp = net::parse_host_port(p.values.str("bind"));
    if (!hp) throw config::ConfigError("bind", "expected ip:port");
    bind = udp::endpoint(hp->address, hp->port);
  }

  agent::ProbeOptions options;
  options.server = {server.address(), server.port()};
  options.timeout = timeout;
  auto r = agent::run_nat_probe(options, bind);

  Json out = Json::object();  // keys in the contract's order
  out["mapping"] = nat::to_string(r.nat.mapping);
  out["filtering"] = nat::to_string(r.nat.filtering);
  out["hairpinning"] = r.hairpinning ? Json(*r.hairpinning) : Json(nullptr);
  out["public"] = r.reflexive ? r.nat.public_address : false;
  out["reflexive"] = r.reflexive ? Json(net::format(r.reflexive->address, r.reflexive->port)) : Json(nullptr);
  if (!r.error.empty()) out["error"] = r.error;
  std::cout << json_dump(out) << "\n";
  return r.classified() ? 0 : 1;
}

}  // namespace otaswarm::cli

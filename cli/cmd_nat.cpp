// `otaswarm nat probe`: RFC 5780 NAT behaviour discovery from the device side (mapping,
// filtering, hairpinning, public address) against the rendezvous's two IPs × two ports.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <poll.h>

#include <chrono>
#include <iostream>

#include "common/config.h"
#include "common/json.h"
#include "common/proto/nat.h"
#include "common/net.h"
#include "common/proto/stun.h"
#include "cli/cli_args.h"
#include "cli/commands.h"

namespace otaswarm::cli {

namespace {
namespace asio = boost::asio;
using asio::ip::udp;
using Clock = std::chrono::steady_clock;

constexpr int64_t kDefaultTimeoutMs = 1500;  // per test; a filtering test that gets no reply waits this long
constexpr int kRetransmits = 4;              // RFC 8489 doubling retransmissions within the timeout
constexpr size_t kRecvBuffer = stun::kMaxMessageSize;

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

struct BindingReply {
  bool ok = false;
  net::HostPort mapped;
  std::optional<net::HostPort> other;
  udp::endpoint from;
};

class Probe {
 public:
  Probe(asio::io_context& io, udp::endpoint bind, std::chrono::milliseconds timeout)
      : io_(io), timeout_(timeout), sock_(io) {
    sock_.open(bind.protocol());
    sock_.bind(bind);
  }
  udp::socket& socket() { return sock_; }

  // One Binding transaction with retransmissions; `change` is a CHANGE-REQUEST value (0: none).
  BindingReply binding(udp::socket& s, const udp::endpoint& to, uint32_t change) {
    auto tid = stun::random_transaction_id();
    stun::Builder b(stun::method::binding, stun::Class::request, tid);
    if (change) b.add_u32(stun::attr::change_request, change);
    b.add_fingerprint();
    BindingReply out;
    auto deadline = Clock::now() + timeout_;
    auto rto = timeout_ / (1 << kRetransmits);
    auto next_send = Clock::now();
    std::array<char, kRecvBuffer> buf{};
    while (Clock::now() < deadline) {
      if (Clock::now() >= next_send) {
        boost::system::error_code ec;
        s.send_to(asio::buffer(b.bytes()), to, 0, ec);
        next_send = Clock::now() + rto;
        rto *= 2;
      }
      auto wait = std::min(deadline, next_send) - Clock::now();
      pollfd pfd{s.native_handle(), POLLIN, 0};
      int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
      if (::poll(&pfd, 1, std::max(ms, 1)) <= 0) continue;
      udp::endpoint from;
      boost::system::error_code ec;
      size_t n = s.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) continue;
      auto r = stun::parse(std::string_view(buf.data(), n));
      if (!r.ok() || r.message.transaction_id != tid) continue;
      if (r.message.method() == stun::method::binding && r.message.cls() == stun::Class::request) {
        hairpin_seen_ = true;  // our own request came back to us (hairpinning test)
        continue;
      }
      if (r.message.cls() != stun::Class::success) return out;
      const auto* xa = r.message.find(stun::attr::xor_mapped_address);
      auto mapped = xa ? stun::decode_xor_address(xa->value, tid) : std::nullopt;
      if (!mapped) {
        const auto* ma = r.message.find(stun::attr::mapped_address);
        if (ma) mapped = stun::decode_address(ma->value);
      }
      if (!mapped) return out;
      out.ok = true;
      out.mapped = *mapped;
      out.from = from;
      if (const auto* oa = r.message.find(stun::attr::other_address)) out.other = stun::decode_address(oa->value);
      return out;
    }
    return out;
  }

  // RFC 5780 §4.5: a request sent to our own mapped address comes back only if the NAT hairpins.
  bool hairpin(const net::HostPort& mapped) {
    hairpin_seen_ = false;
    auto tid = stun::random_transaction_id();
    stun::Builder b(stun::method::binding, stun::Class::request, tid);
    b.add_fingerprint();
    boost::system::error_code ec;
    udp::endpoint to(mapped.address, mapped.port);
    auto deadline = Clock::now() + timeout_;
    std::array<char, kRecvBuffer> buf{};
    auto rto = timeout_ / (1 << kRetransmits);
    auto next_send = Clock::now();
    while (Clock::now() < deadline) {
      if (Clock::now() >= next_send) {
        sock_.send_to(asio::buffer(b.bytes()), to, 0, ec);
        next_send = Clock::now() + rto;
        rto *= 2;
      }
      pollfd pfd{sock_.native_handle(), POLLIN, 0};
      auto wait = std::min(deadline, next_send) - Clock::now();
      int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
      if (::poll(&pfd, 1, std::max(ms, 1)) <= 0) continue;
      udp::endpoint from;
      size_t n = sock_.receive_from(asio::buffer(buf), from, 0, ec);
      if (ec) continue;
      auto r = stun::parse(std::string_view(buf.data(), n));
      if (r.ok() && r.message.transaction_id == tid) return true;
    }
    return false;
  }

 private:
  asio::io_context& io_;
  std::chrono::milliseconds timeout_;
  udp::socket sock_;
  bool hairpin_seen_ = false;
};

bool same(const net::HostPort& a, const net::HostPort& b) {
  return net::unmap(a.address) == net::unmap(b.address) && a.port == b.port;
}

// The local address the kernel would use towards `server` (for the "not behind a NAT" test).
net::Address route_source(asio::io_context& io, const udp::endpoint& server) {
  udp::socket s(io);
  s.open(server.protocol());
  s.connect(server);
  return s.local_endpoint().address();
}
}  // namespace

int nat_probe(const Args& args) {
  config::Schema schema("otaswarm nat probe", "RFC 5780 NAT behaviour discovery.");
  schema.add("stun", config::Kind::string, "STUN server host:port")
      .add("bind", config::Kind::string, "local ip:port", {""})
      .add("timeout-ms", config::Kind::integer, "wait per test", {std::to_string(kDefaultTimeoutMs)});
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

  Json out = Json::object();
  nat::NatClass cls;
  out["mapping"] = nat::to_string(cls.mapping);  // keys in the contract's order; values set below
  out["filtering"] = nat::to_string(cls.filtering);
  out["hairpinning"] = nullptr;
  out["public"] = false;
  out["reflexive"] = nullptr;
  std::string error;
  try {
    Probe probe(io, bind, timeout);
    // Test I: plain Binding to the primary address.
    auto t1 = probe.binding(probe.socket(), server, 0);
    if (!t1.ok) {
      error = "no Binding response from " + net::format(server);
    } else {
      out["reflexive"] = net::format(t1.mapped.address, t1.mapped.port);
      auto local = probe.socket().local_endpoint();
      net::Address src = local.address().is_unspecified() ? route_source(io, server) : local.address();
      cls.public_address = same(t1.mapped, {src, local.port()});
      out["public"] = cls.public_address;
      if (!t1.other || t1.other->address == server.address()) {
        error = "server does not support RFC 5780 (no OTHER-ADDRESS)";
      } else {
        const auto& oa = *t1.other;
        // Mapping: Test II to (alternate IP, primary port), Test III to (alternate IP, alternate port).
        auto t2 = probe.binding(probe.socket(), udp::endpoint(oa.address, server.port()), 0);
        if (!t2.ok) {
          error = "no response from the alternate address " + net::format(oa.address, server.port());
        } else if (cls.public_address || same(t2.mapped, t1.mapped)) {
          cls.mapping = nat::Mapping::endpoint_independent;
        } else {
          auto t3 = probe.binding(probe.socket(), udp::endpoint(oa.address, oa.port), 0);
          if (!t3.ok) error = "no response from " + net::format(oa.address, oa.port);
          else cls.mapping = same(t3.mapped, t2.mapped) ? nat::Mapping::address_dependent
                                                        : nat::Mapping::address_and_port_dependent;
        }
        // Filtering, on a fresh socket so the mapping tests' packets have not opened the filter.
        udp::socket fresh(io);
        fresh.open(bind.protocol());
        fresh.bind(udp::endpoint(bind.address(), 0));
        if (probe.binding(fresh, server, 0).ok) {
          if (probe.binding(fresh, server, stun::kChangeIp | stun::kChangePort).ok)
            cls.filtering = nat::Filtering::endpoint_independent;
          else if (probe.binding(fresh, server, stun::kChangePort).ok)
            cls.filtering = nat::Filtering::address_dependent;
          else
            cls.filtering = nat::Filtering::address_and_port_dependent;
        } else if (error.empty()) {
          error = "no Binding response on the filtering socket";
        }
        if (!cls.public_address) out["hairpinning"] = probe.hairpin(t1.mapped);
      }
    }
  } catch (const boost::system::system_error& e) {
    error = e.code().message();
  }
  out["mapping"] = nat::to_string(cls.mapping);
  out["filtering"] = nat::to_string(cls.filtering);
  if (!error.empty()) out["error"] = error;
  std::cout << json_dump(out) << "\n";
  return cls.mapping == nat::Mapping::unknown || cls.filtering == nat::Filtering::unknown ? 1 : 0;
}

}  // namespace otaswarm::cli

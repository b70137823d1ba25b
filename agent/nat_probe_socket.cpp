#include "agent/nat_probe_socket.h"

#include <poll.h>

#include <array>
#include <boost/asio/io_context.hpp>

namespace otaswarm::agent {

namespace {
namespace asio = boost::asio;
using asio::ip::udp;

// The local address the kernel would use towards `server` (for the "not behind a NAT" test).
net::Address route_source(asio::io_context& io, const udp::endpoint& server) {
  udp::socket s(io);
  s.open(server.protocol());
  s.connect(server);
  return s.local_endpoint().address();
}
}  // namespace

ProbeResult run_nat_probe(const ProbeOptions& options, const udp::endpoint& bind) {
  asio::io_context io;
  udp::endpoint server(options.server.address, options.server.port);
  try {
    udp::socket primary(io), filtering(io);
    primary.open(bind.protocol());
    primary.bind(bind);
    filtering.open(bind.protocol());
    filtering.bind(udp::endpoint(bind.address(), 0));
    auto local = primary.local_endpoint();
    net::Address src = local.address().is_unspecified() ? route_source(io, server) : local.address();

    NatProbe probe(options, {src, local.port()});
    probe.start(ProbeClock::now());
    std::array<char, stun::kMaxMessageSize> buf{};
    udp::socket* sockets[2] = {&primary, &filtering};
    while (!probe.done()) {
      while (auto d = probe.poll(ProbeClock::now())) {
        boost::system::error_code ec;  // a lost send is a lost datagram: the probe retransmits
        sockets[static_cast<int>(d->socket)]->send_to(asio::buffer(d->bytes), udp::endpoint(d->to.address, d->to.port), 0, ec);
      }
      if (probe.done()) break;
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(probe.wakeup() - ProbeClock::now()).count();
      pollfd fds[2] = {{primary.native_handle(), POLLIN, 0}, {filtering.native_handle(), POLLIN, 0}};
      if (::poll(fds, 2, static_cast<int>(std::max<int64_t>(wait, 1))) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & POLLIN)) continue;
        udp::endpoint from;
        boost::system::error_code ec;
        size_t n = sockets[i]->receive_from(asio::buffer(buf), from, 0, ec);
        if (!ec) probe.on_datagram(static_cast<ProbeSocket>(i), std::string_view(buf.data(), n), ProbeClock::now());
      }
    }
    return probe.result();
  } catch (const boost::system::system_error& e) {
    ProbeResult r;
    r.error = e.code().message();
    return r;
  }
}

}  // namespace otaswarm::agent

#include "agent/socks5_udp.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>


#include "common/log.h"
#include "common/net.h"
#include "common/proto/stun.h"

namespace otaswarm::agent {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {
constexpr size_t kStunCookieOffset = 4;
constexpr size_t kSpliceBuffer = 64 * 1024;

bool looks_like_stun(std::string_view d) {
  if (d.size() < stun::kHeaderSize || (static_cast<uint8_t>(d[0]) & 0xC0) != 0) return false;
  uint32_t c = (static_cast<uint32_t>(static_cast<uint8_t>(d[kStunCookieOffset])) << 24) |
               (static_cast<uint32_t>(static_cast<uint8_t>(d[kStunCookieOffset + 1])) << 16) |
               (static_cast<uint32_t>(static_cast<uint8_t>(d[kStunCookieOffset + 2])) << 8) |
               static_cast<uint32_t>(static_cast<uint8_t>(d[kStunCookieOffset + 3]));
  return c == stun::kMagicCookie;
}

// Outside the coroutine: GCC 12 miscompiles string-literal initializer lists in coroutines.
void log_associate(const std::optional<udp::endpoint>& client, bool closed = false) {
  if (closed) return log::debug("socks5: UDP association closed");
  log::debug("socks5: UDP associate", {{"client", client ? net::format(*client) : std::string("(first datagram)")}});
}

std::string method_reply(bool noauth) {
  std::string r(2, static_cast<char>(socks5::kVersion));
  r[1] = static_cast<char>(noauth ? socks5::kNoAuth : socks5::kNoAcceptableMethod);
  return r;
}

std::string reply(uint8_t code, const asio::ip::address& a, uint16_t port) {
  std::string r{static_cast<char>(socks5::kVersion), static_cast<char>(code), 0};
  socks5::put_endpoint(r, a, port);
  return r;
}

// `keep` holds whatever owns the two sockets until this direction is done.
asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to, std::shared_ptr<void> keep) {
  std::vector<char> buf(kSpliceBuffer);
  boost::system::error_code ec;
  while (true) {
    size_t n = co_await from.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || n == 0) break;
    co_await asio::async_write(to, asio::buffer(buf.data(), n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  boost::system::error_code ignore;
  to.shutdown(tcp::socket::shutdown_send, ignore);
}
}  // namespace


// One TCP control connection: greeting, one request, then either the UDP association (held
// until libtorrent closes the connection) or a CONNECT splice.
class Socks5UdpProxy::Control : public std::enable_shared_from_this<Control> {
 public:
  Control(Socks5UdpProxy& p, tcp::socket s) : p_(p), alive_(p.alive_), sock_(std::move(s)) {}

  // The coroutine frame holds `c` (a member coroutine would not keep its object alive).
  static asio::awaitable<void> serve(std::shared_ptr<Control> c) { co_await c->run(); }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    boost::system::error_code ec;
    std::vector<uint8_t> buf(262);
    auto rd = [&](size_t n) -> asio::awaitable<bool> {
      co_await asio::async_read(sock_, asio::buffer(buf.data(), n), asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    };
    auto wr = [&](const std::string& s) -> asio::awaitable<bool> {
      co_await asio::async_write(sock_, asio::buffer(s), asio::redirect_error(asio::use_awaitable, ec));
      co_return !ec;
    };
    if (!co_await rd(2) || buf[0] != socks5::kVersion) co_return;
    size_t nmethods = buf[1];
    if (!co_await rd(nmethods)) co_return;
    bool noauth = false;
    for (size_t i = 0; i < nmethods; ++i) noauth |= buf[i] == socks5::kNoAuth;
    if (!co_await wr(method_reply(noauth)) || !noauth) co_return;
    if (!co_await rd(4) || buf[0] != socks5::kVersion) co_return;
    uint8_t cmd = buf[1], atyp = buf[3];
    std::string host;
    asio::ip::address addr;
    if (atyp == socks5::kIpv4) {
      if (!co_await rd(4)) co_return;
      addr = socks5::address_at(buf.data(), socks5::kIpv4);
    } else if (atyp == socks5::kIpv6) {
      if (!co_await rd(16)) co_return;
      addr = socks5::address_at(buf.data(), socks5::kIpv6);
    } else if (atyp == socks5::kDomain) {
      if (!co_await rd(1)) co_return;
      size_t n = buf[0];
      if (!co_await rd(n)) co_return;
      host.assign(reinterpret_cast<const char*>(buf.data()), n);
    } else {
      co_await wr(reply(socks5::kAddressNotSupported, asio::ip::address_v4::any(), 0));
      co_return;
    }
    if (!co_await rd(2)) co_return;
    auto port = static_cast<uint16_t>((buf[0] << 8) | buf[1]);
    if (*alive_ == false) co_return;

    if (cmd == socks5::kUdpAssociate) {
      // socks5_udp_send_local_ep: the request names 0.0.0.0:P, P being libtorrent's port; the
      // address is the control connection's. Without a port, the first datagram tells.
      if (port != 0) {
        auto peer = sock_.remote_endpoint(ec);
        if (ec) co_return;
        p_.client_ = udp::endpoint(addr.is_unspecified() || !host.empty() ? peer.address() : addr, port);
      }
      auto relay = p_.relay_.local_endpoint(ec);
      if (ec || !co_await wr(reply(socks5::kSucceeded, relay.address(), relay.port()))) co_return;
      p_.associated_ = true;
      log_associate(p_.client_);
      // The association lasts as long as this connection (RFC 1928 §7).
      char c;
      co_await sock_.async_read_some(asio::buffer(&c, 1), asio::redirect_error(asio::use_awaitable, ec));
      if (*alive_) {
        p_.client_.reset();
        p_.associated_ = false;
        log_associate(std::nullopt, true);
      }
      co_return;
    }
    if (cmd != socks5::kConnect) {
      co_await wr(reply(socks5::kCommandNotSupported, asio::ip::address_v4::any(), 0));
      co_return;
    }
    ++p_.stats_.tcp_connects;
    auto outp = std::make_shared<tcp::socket>(sock_.get_executor());
    tcp::socket& out = *outp;
    if (!host.empty()) {
      tcp::resolver res(sock_.get_executor());
      auto eps = co_await res.async_resolve(host, std::to_string(port), asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) co_await asio::async_connect(out, eps, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await out.async_connect(tcp::endpoint(addr, port), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      co_await wr(reply(socks5::kHostUnreachable, asio::ip::address_v4::any(), 0));
      co_return;
    }
    auto bound = out.local_endpoint(ec);
    if (ec || !co_await wr(reply(socks5::kSucceeded, bound.address(), bound.port()))) co_return;
    // One direction on its own coroutine, the other here; each half-closes when its side ends.
    auto keep = std::make_shared<std::pair<std::shared_ptr<Control>, std::shared_ptr<tcp::socket>>>(self, outp);
    asio::co_spawn(sock_.get_executor(), pump(out, sock_, keep), asio::detached);
    co_await pump(sock_, out, keep);
  }

 private:
  Socks5UdpProxy& p_;
  std::shared_ptr<bool> alive_;
  tcp::socket sock_;
};

Socks5UdpProxy::Socks5UdpProxy(asio::io_context& io, const udp::endpoint& public_bind, RelayHooks hooks)
    : io_(io),
      hooks_(std::move(hooks)),
      public_(io),
      relay_(io),
      acceptor_(io),
      alive_(std::make_shared<bool>(true)) {
  public_.open(public_bind.protocol());
  public_.set_option(asio::socket_base::receive_buffer_size(kRelayReceiveBuffer));
  public_.bind(public_bind);
  relay_.open(udp::v4());
  relay_.set_option(asio::socket_base::receive_buffer_size(kRelayReceiveBuffer));
  relay_.bind(udp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::endpoint ctl(asio::ip::address_v4::loopback(), 0);
  acceptor_.open(ctl.protocol());
  acceptor_.bind(ctl);
  acceptor_.listen();
  pub_buf_.resize(kMaxDatagram);
  relay_buf_.resize(kMaxDatagram);
}

Socks5UdpProxy::~Socks5UdpProxy() { close(); }

void Socks5UdpProxy::close() {
  *alive_ = false;
  boost::system::error_code ec;
  public_.close(ec);
  relay_.close(ec);
  acceptor_.close(ec);
}

void Socks5UdpProxy::start() {
  read_public();
  read_relay();
  accept();
}

uint16_t Socks5UdpProxy::control_port() const { return acceptor_.local_endpoint().port(); }
udp::endpoint Socks5UdpProxy::public_local() const { return public_.local_endpoint(); }

void Socks5UdpProxy::send_public(const udp::endpoint& to, std::string_view bytes) {
  boost::system::error_code ec;
  public_.send_to(asio::buffer(bytes.data(), bytes.size()), to, 0, ec);
  if (ec) ++stats_.dropped;
}

void Socks5UdpProxy::to_libtorrent(const udp::endpoint& from, std::string_view bytes) {
  if (!client_) {
    ++stats_.dropped;
    return;
  }
  std::string out = socks5::udp_header(from);
  out.append(bytes);
  boost::system::error_code ec;
  relay_.send_to(asio::buffer(out), *client_, 0, ec);
  if (ec) ++stats_.dropped;
  else ++stats_.in;
}

void Socks5UdpProxy::accept() {
  acceptor_.async_accept([this, alive = alive_](boost::system::error_code ec, tcp::socket s) {
    if (!*alive) return;
    if (!ec) {
      if (controls_ >= kMaxControlConnections) {
        s.close(ec);
      } else {
        ++controls_;
        auto c = std::make_shared<Control>(*this, std::move(s));
        asio::co_spawn(io_, Control::serve(c), [this, alive](std::exception_ptr) {
          if (*alive) --controls_;
        });
      }
    }
    accept();
  });
}

void Socks5UdpProxy::read_public() {
  public_.async_receive_from(asio::buffer(pub_buf_), pub_from_, [this, alive = alive_](boost::system::error_code ec, size_t n) {
    if (!*alive) return;
    if (!ec) {
      std::string_view d(pub_buf_.data(), n);
      if (looks_like_stun(d)) {
        ++stats_.stun_in;
        if (hooks_.on_stun) hooks_.on_stun(pub_from_, d);
      } else if (!client_) {
        ++stats_.dropped;
      } else {
        std::string data(d);
        if (hooks_.on_inbound) hooks_.on_inbound(pub_from_, data);
        std::string out = socks5::udp_header(pub_from_);
        out.append(data);
        relay_.send_to(asio::buffer(out), *client_, 0, ec);
        if (ec) ++stats_.dropped;
        else ++stats_.in;
      }
    }
    read_public();
  });
}

void Socks5UdpProxy::read_relay() {
  relay_.async_receive_from(asio::buffer(relay_buf_), relay_from_, [this, alive = alive_](boost::system::error_code ec, size_t n) {
    if (!*alive) return;
    if (!ec) {
      // Only libtorrent (loopback) may use the relay; it becomes the client if it has not said.
      if (!relay_from_.address().is_loopback()) {
        ++stats_.dropped;
      } else {
        if (!client_) client_ = relay_from_;
        auto h = socks5::parse_udp_header(std::string_view(relay_buf_.data(), n));
        if (!h) {
          ++stats_.dropped;
        } else {
          std::string data(relay_buf_.data() + h->size, n - h->size);
          bool sent = hooks_.on_outbound && hooks_.on_outbound(h->endpoint, data);
          if (!sent) send_public(h->endpoint, data);
          ++stats_.out;
        }
      }
    }
    read_relay();
  });
}

}  // namespace otaswarm::agent

// The agent's SOCKS5 relay with real sockets on loopback, driven by a hand-rolled RFC 1928
// client the way libtorrent 2.0.8 uses it: UDP ASSOCIATE naming 0.0.0.0:P
// (socks5_udp_send_local_ep), datagrams both ways through the owned public socket, STUN
// datagrams from outside going to the agent instead of libtorrent, outbound rewriting, and
// a CONNECT splice (HTTP trackers and web seeds).
#include "agent/socks5_udp.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "common/proto/stun.h"

namespace otaswarm::agent {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

const auto kLoopback = asio::ip::address_v4::loopback();

std::string recv_with_timeout(udp::socket& s, udp::endpoint& from) {
  std::string buf(kMaxDatagram, '\0');
  for (int i = 0; i < 500; ++i) {  // bounded: 5 s
    boost::system::error_code ec;
    if (s.available(ec) > 0) {
      size_t n = s.receive_from(asio::buffer(buf), from);
      buf.resize(n);
      return buf;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return {};
}

TEST(Socks5Udp, HeaderRoundTripAndRefusals) {
  udp::endpoint e(asio::ip::make_address("198.51.100.7"), 6881);
  std::string h = socks5::udp_header(e);
  EXPECT_EQ(h.size(), 10u);
  auto p = socks5::parse_udp_header(h + "data");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->endpoint, e);
  EXPECT_EQ(p->size, 10u);
  std::string frag = h;
  frag[2] = 1;  // fragments are not used by libtorrent
  EXPECT_FALSE(socks5::parse_udp_header(frag));
  EXPECT_FALSE(socks5::parse_udp_header(std::string("\0\0\0\3", 4) + "x"));  // domain names
  EXPECT_FALSE(socks5::parse_udp_header(h.substr(0, 7)));
}

class Socks5UdpProxyTest : public ::testing::Test {
 protected:
  asio::io_context io;
  std::unique_ptr<Socks5UdpProxy> proxy;
  std::thread thread;
  std::atomic<int> stun_seen{0}, inbound_seen{0};
  asio::io_context client_io;

  void SetUp() override {
    RelayHooks hooks;
    hooks.on_stun = [this](const udp::endpoint&, std::string_view) { ++stun_seen; };
    hooks.on_inbound = [this](const udp::endpoint&, std::string&) { ++inbound_seen; };
    hooks.on_outbound = [](const udp::endpoint&, std::string& b) {
      if (b == "rewrite me") b = "rewritten";
      return false;
    };
    proxy = std::make_unique<Socks5UdpProxy>(io, udp::endpoint(kLoopback, 0), std::move(hooks));
    proxy->start();
    thread = std::thread([this] { io.run(); });
  }
  void TearDown() override {
    asio::post(io, [this] {
      proxy->close();
      io.stop();
    });
    thread.join();
  }
  tcp::socket control() {
    tcp::socket c(client_io);
    c.connect(tcp::endpoint(kLoopback, proxy->control_port()));
    asio::write(c, asio::buffer(std::string("\x05\x01\x00", 3)));
    std::string r(2, '\0');
    asio::read(c, asio::buffer(r));
    EXPECT_EQ(r, std::string("\x05\x00", 2));
    return c;
  }
};

TEST_F(Socks5UdpProxyTest, UdpAssociateRelaysBothWaysAndKeepsStunForTheAgent) {
  udp::socket lt(client_io, udp::endpoint(kLoopback, 0));       // "libtorrent"
  udp::socket outside(client_io, udp::endpoint(kLoopback, 0));  // a peer on the Internet
  tcp::socket c = control();
  std::string req("\x05\x03\x00\x01\x00\x00\x00\x00", 8);
  uint16_t p = lt.local_endpoint().port();
  req.push_back(static_cast<char>(p >> 8));
  req.push_back(static_cast<char>(p & 0xFF));
  asio::write(c, asio::buffer(req));
  std::string rep(10, '\0');
  asio::read(c, asio::buffer(rep));
  ASSERT_EQ(rep[1], 0);
  auto relay = socks5::parse_udp_header(std::string(3, '\0') + rep.substr(3));
  ASSERT_TRUE(relay);
  EXPECT_EQ(relay->endpoint.address(), kLoopback);  // a real relay address, not 0.0.0.0

  // libtorrent → outside, leaving from the public socket, rewritten on the way.
  lt.send_to(asio::buffer(socks5::udp_header(outside.local_endpoint()) + "rewrite me"), relay->endpoint);
  udp::endpoint from;
  EXPECT_EQ(recv_with_timeout(outside, from), "rewritten");
  EXPECT_EQ(from.port(), proxy->public_local().port());

  // outside → libtorrent, with the outside's address in the header.
  outside.send_to(asio::buffer(std::string("uTP data")), proxy->public_local());
  std::string got = recv_with_timeout(lt, from);
  auto h = socks5::parse_udp_header(got);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->endpoint, outside.local_endpoint());
  EXPECT_EQ(got.substr(h->size), "uTP data");
  EXPECT_EQ(from, relay->endpoint);

  // STUN from outside goes to the agent, not to libtorrent.
  stun::Builder b(stun::method::binding, stun::Class::indication, stun::random_transaction_id());
  b.add_fingerprint();
  outside.send_to(asio::buffer(b.bytes()), proxy->public_local());
  for (int i = 0; i < 500 && stun_seen == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(stun_seen, 1);
  EXPECT_EQ(inbound_seen, 1);
  boost::system::error_code ec;
  EXPECT_EQ(lt.available(ec), 0u);
}

TEST_F(Socks5UdpProxyTest, ConnectSplicesTcp) {
  tcp::acceptor server(client_io, tcp::endpoint(kLoopback, 0));
  tcp::socket c = control();
  std::string req("\x05\x01\x00\x01\x7f\x00\x00\x01", 8);
  uint16_t p = server.local_endpoint().port();
  req.push_back(static_cast<char>(p >> 8));
  req.push_back(static_cast<char>(p & 0xFF));
  asio::write(c, asio::buffer(req));
  tcp::socket s = server.accept();
  std::string rep(10, '\0');
  asio::read(c, asio::buffer(rep));
  ASSERT_EQ(rep[1], 0);
  asio::write(c, asio::buffer(std::string("GET / HTTP/1.0\r\n\r\n")));
  std::string in(18, '\0');
  asio::read(s, asio::buffer(in));
  EXPECT_EQ(in, "GET / HTTP/1.0\r\n\r\n");
  asio::write(s, asio::buffer(std::string("HTTP/1.0 200 OK\r\n")));
  s.shutdown(tcp::socket::shutdown_both);
  std::string out;
  boost::system::error_code ec;
  asio::read(c, asio::dynamic_buffer(out), ec);
  EXPECT_EQ(out, "HTTP/1.0 200 OK\r\n");
}

TEST_F(Socks5UdpProxyTest, RefusesAuthenticationItCannotDoAndUnknownCommands) {
  tcp::socket c(client_io);
  c.connect(tcp::endpoint(kLoopback, proxy->control_port()));
  asio::write(c, asio::buffer(std::string("\x05\x01\x02", 3)));  // username/password only
  std::string r(2, '\0');
  asio::read(c, asio::buffer(r));
  EXPECT_EQ(static_cast<uint8_t>(r[1]), socks5::kNoAcceptableMethod);
  tcp::socket c2 = control();
  asio::write(c2, asio::buffer(std::string("\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50", 10)));  // BIND
  std::string rep(10, '\0');
  asio::read(c2, asio::buffer(rep));
  EXPECT_EQ(rep[1], socks5::kCommandNotSupported);
}

}  // namespace
}  // namespace otaswarm::agent

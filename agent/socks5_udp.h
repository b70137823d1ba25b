#pragma once
// The agent owns the public UDP socket and serves libtorrent a SOCKS5 proxy on loopback
// (RFC 1928: no authentication, UDP ASSOCIATE with a relay on 127.0.0.1, CONNECT for the
// TCP connections libtorrent still proxies — HTTP trackers and web seeds). libtorrent's uTP
// and UDP-tracker datagrams leave through the public socket, so the agent can put its own
// (STUN, rendezvous, punch packets) on the same public port. LIBTORRENT.md has the measured
// facts. Hand-written: Debian packages no SOCKS5 server library (docs/dependencies.md).
// Everything runs on one io_context thread: the hooks are called there, no locks.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/socks5_wire.h"

namespace otaswarm::agent {

inline constexpr int kRelayReceiveBuffer = 4 << 20;  // a default-sized buffer dropped ~1.5 % under load
inline constexpr size_t kMaxDatagram = 65536;
inline constexpr size_t kMaxControlConnections = 32;


struct RelayHooks {
  // A datagram from outside that looks like STUN (magic cookie at offset 4).
  std::function<void(const boost::asio::ip::udp::endpoint& from, std::string_view bytes)> on_stun;
  // A datagram libtorrent sends out; may rewrite `bytes` (BEP 15 announces) before it leaves,
  // or return true when it sent the datagram itself (through a TURN allocation).
  std::function<bool(const boost::asio::ip::udp::endpoint& to, std::string& bytes)> on_outbound;
  // A non-STUN datagram from outside, before it is relayed to libtorrent; may rewrite `bytes`
  // (BEP 15 announce replies), or empty it to drop it.
  std::function<void(const boost::asio::ip::udp::endpoint& from, std::string& bytes)> on_inbound;
};

struct RelayStats {
  uint64_t out = 0, in = 0;      // datagrams relayed libtorrent → outside, outside → libtorrent
  uint64_t stun_in = 0;
  uint64_t dropped = 0;          // before libtorrent associated, malformed headers, send errors
  uint64_t tcp_connects = 0;
};

class Socks5UdpProxy {
 public:
  // Binds the public socket at `public_bind` and the loopback listener; throws on failure.
  Socks5UdpProxy(boost::asio::io_context& io, const boost::asio::ip::udp::endpoint& public_bind, RelayHooks hooks);
  ~Socks5UdpProxy();
  Socks5UdpProxy(const Socks5UdpProxy&) = delete;
  Socks5UdpProxy& operator=(const Socks5UdpProxy&) = delete;

  void start();
  void close();
  uint16_t control_port() const;
  boost::asio::ip::udp::endpoint public_local() const;
  // The agent's own datagrams out of the public socket (io thread only).
  void send_public(const boost::asio::ip::udp::endpoint& to, std::string_view bytes);
  // A datagram to libtorrent as if `from` had sent it (TURN Data indications; io thread only).
  void to_libtorrent(const boost::asio::ip::udp::endpoint& from, std::string_view bytes);
  const RelayStats& stats() const { return stats_; }
  // libtorrent holds a UDP association (any thread).
  bool associated() const { return associated_.load(); }

 private:
  class Control;
  void read_public();
  void read_relay();
  void accept();

  boost::asio::io_context& io_;
  RelayHooks hooks_;
  boost::asio::ip::udp::socket public_, relay_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::optional<boost::asio::ip::udp::endpoint> client_;  // libtorrent's UDP socket
  std::string pub_buf_, relay_buf_;
  boost::asio::ip::udp::endpoint pub_from_, relay_from_;
  size_t controls_ = 0;
  std::atomic<bool> associated_{false};
  RelayStats stats_;
  std::shared_ptr<bool> alive_;
};

}  // namespace otaswarm::agent

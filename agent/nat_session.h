#pragma once
// NAT traversal for one download: the public UDP socket with libtorrent behind the SOCKS5
// relay (agent/socks5_udp.h), the rendezvous client (agent/rendezvous_client.h) on that same
// socket, BEP 15 announces rewritten on their way out (the real public port, the NAT ticket
// as `nat`), an RDV-CONNECT for every peer the tracker hands out that is not on one of our own
// networks (those peers are taken out of the reply libtorrent sees, so libtorrent never dials
// them on its own: the punch order, or a failed RDV-CONNECT, decides who dials), and hole punching on punch orders with one dialer strictly (LIBTORRENT.md): one
// side sends small packets to the other's reflexive endpoint every 200 ms from T − 0.5 s, the
// other calls connect_peer at T. Runs its own I/O thread; the libtorrent side polls dials()
// and asks punched() from its network thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/byte_accounting.h"
#include "agent/rendezvous_client.h"
#include "agent/socks5_udp.h"
#include "agent/turn_client.h"
#include "common/net.h"

namespace otaswarm::agent {

inline constexpr std::chrono::milliseconds kPunchInterval{200};
inline constexpr std::chrono::milliseconds kPunchLead{500};     // first packet at T − 0.5 s
inline constexpr std::chrono::milliseconds kPunchDuration{4000};  // last packet by T + 3.5 s
inline constexpr std::chrono::seconds kRepunchAfter{30};         // a peer is punched again at most this often
inline constexpr size_t kMaxPunchTargets = 1024;

struct NatSessionOptions {
  boost::asio::ip::udp::endpoint listen;  // the public socket (--listen)
  RendezvousOptions rendezvous;
  std::vector<net::Cidr> local_networks;  // our own subnets: peers there are not asked about
  std::string rendezvous_api;             // device API: coturn REST credentials and URI (relay)
};

// A peer libtorrent must dial at `at` (connect_peer).
struct Dial {
  boost::asio::ip::tcp::endpoint peer;
  RdvClock::time_point at{};
};

struct NatSessionStatus {
  bool registered = false;
  std::string nat_ticket;
  RendezvousStats rendezvous;
  RelayStats relay;
  uint64_t announces_rewritten = 0;
  uint64_t punch_packets_sent = 0;
  uint64_t punch_packets_received = 0;
  size_t punch_targets = 0;
  std::string turn;  // TURN allocation ("ip:port"), or why there is none
  uint64_t relay_datagrams_in = 0, relay_datagrams_out = 0;
};

class NatSession {
 public:
  explicit NatSession(NatSessionOptions options);  // binds the sockets; throws on failure
  ~NatSession();
  NatSession(const NatSession&) = delete;
  NatSession& operator=(const NatSession&) = delete;

  void start();
  void stop();
  uint16_t proxy_port() const;  // 127.0.0.1: libtorrent's SOCKS5 proxy
  boost::asio::ip::udp::endpoint public_local() const;

  // Thread-safe.
  bool associated() const { return proxy_->associated(); }
  std::vector<Dial> take_dials();
  bool punched(const boost::asio::ip::address& a, uint16_t port) const;
  // punched / relayed for peers NAT traversal reached, by endpoint; nullopt otherwise.
  std::optional<Path> path_of(const boost::asio::ip::address& a, uint16_t port) const;
  NatSessionStatus status() const;
  // True once the probe ran (with its result; unknown when the rendezvous is silent).
  bool probe_done(ProbeResult& out) const;

 private:
  struct Punch {
    boost::asio::ip::udp::endpoint to;
    RdvClock::time_point from{}, until{};
    RdvClock::time_point next{};
  };
  void on_stun(const boost::asio::ip::udp::endpoint& from, std::string_view bytes);
  bool on_outbound(const boost::asio::ip::udp::endpoint& to, std::string& bytes);
  void on_relay_order(const PunchOrder& o, bool allocate);
  void fetch_credentials();
  void on_inbound(const boost::asio::ip::udp::endpoint& from, std::string& bytes);
  void on_order(const PunchOrder& o);
  void drive();
  void read_filter();
  void arm(RdvClock::time_point when);
  bool ours(const boost::asio::ip::address& a) const;

  NatSessionOptions options_;
  boost::asio::io_context io_;
  std::unique_ptr<Socks5UdpProxy> proxy_;
  boost::asio::ip::udp::socket filtering_;  // the probe's second socket
  std::string filter_buf_;
  boost::asio::ip::udp::endpoint filter_from_;
  boost::asio::steady_timer timer_;
  std::unique_ptr<RendezvousClient> client_;
  boost::asio::ip::udp::endpoint server_;
  std::thread thread_;
  bool probe_logged_ = false;

  // io thread only
  std::map<std::pair<boost::asio::ip::udp::endpoint, uint32_t>, RdvClock::time_point> announces_;  // (tracker, tid)
  std::set<boost::asio::ip::udp::endpoint> asked_;
  std::map<boost::asio::ip::udp::endpoint, RdvClock::time_point> last_order_;
  std::vector<Punch> punches_;
  std::unique_ptr<TurnClient> turn_;
  boost::asio::ip::udp::endpoint turn_server_;
  std::set<boost::asio::ip::udp::endpoint> relay_wanted_, relay_asked_, relay_dialled_;
  std::set<boost::asio::ip::udp::endpoint> relay_peers_;  // as coturn sees them (Data indications)
  std::thread creds_thread_;
  struct Credentials {
    std::string username, password;
    std::optional<net::HostPort> server;
    std::string error;
  };
  std::optional<Credentials> creds_;  // guarded by mu_

  mutable std::mutex mu_;  // guards the rest
  std::vector<Dial> dials_;
  std::set<boost::asio::ip::udp::endpoint> punched_, relayed_;
  NatSessionStatus status_;
  std::optional<ProbeResult> probe_;
};

}  // namespace otaswarm::agent

#pragma once
// Sockets for the STUN service: four UDP sockets (primary/alternate IP × primary/alternate
// port) per I/O thread, bound with SO_REUSEPORT so each thread owns a full set and replies
// from any of the four addresses without crossing threads; plus STUN over TCP on the primary.
// Sockets only move bytes: StunHandler decides what to send. UDP is read with recvmmsg and
// answered with sendmmsg in batches (the tracker's UDP path), counted per thread.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "common/io_pool.h"
#include "rendezvous/stun_handler.h"

namespace otaswarm::rendezvous {

inline constexpr size_t kStunBatch = 32;          // datagrams per recvmmsg and per sendmmsg
inline constexpr size_t kStunBatchesPerWake = 8;  // then other handlers of the thread get a turn
inline constexpr int kStunReceiveBuffer = 4 << 20;  // SO_RCVBUF asked for: absorbs bursts (as the tracker's)

struct StunBind {
  net::HostPort primary;
  std::optional<net::Address> alt_ip;
  uint16_t alt_port = 0;  // 0: primary port + 1, or a free port when the primary port is 0
  size_t max_tcp_connections = 10'000;
};

class StunServer {
 public:
  StunServer(IoPool& pool, HandlerConfig& cfg, Shared shared);
  ~StunServer();
  // Binds every socket (filling cfg.local); throws std::runtime_error naming the address on failure.
  void bind(const StunBind& b);
  void start();
  void stop();
  const HandlerConfig& config() const { return cfg_; }
  boost::asio::ip::tcp::endpoint tcp_endpoint() const { return tcp_local_; }

  struct Worker;
  struct TcpState;

 private:
  void send_notice(const Notice& n);
  IoPool& pool_;
  HandlerConfig& cfg_;
  Shared sh_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  boost::asio::ip::tcp::endpoint tcp_local_;
  std::shared_ptr<TcpState> tcp_;
  size_t max_tcp_ = 0;
};

}  // namespace otaswarm::rendezvous

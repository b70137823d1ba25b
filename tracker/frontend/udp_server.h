#pragma once
// BEP 15 front end: one SO_REUSEPORT socket per I/O thread on the same address, so the
// kernel spreads datagrams over threads and no socket is shared between threads. Each
// readiness event drains datagrams in batches (recvmmsg) and answers a batch with one
// sendmmsg, so the per-datagram syscall cost is a fraction of one recvfrom + one sendto.
#include <boost/asio/ip/udp.hpp>
#include <array>
#include <memory>
#include <vector>

#include "common/io_pool.h"
#include "tracker/announce.h"
#include "tracker/connection_id.h"

namespace otaswarm {

inline constexpr size_t kUdpMaxDatagram = 2048;
inline constexpr size_t kUdpBatch = 32;              // datagrams per recvmmsg and per sendmmsg
inline constexpr size_t kUdpBatchesPerWake = 8;      // then other handlers of the thread get a turn
inline constexpr size_t kUdpMaxQueuedReplies = 4096;  // replies waiting for a full send buffer to drain
inline constexpr int kUdpReceiveBuffer = 4 << 20;     // SO_RCVBUF asked for outside shedding episodes

class UdpServer {
 public:
  UdpServer(IoPool& pool, boost::asio::ip::udp::endpoint bind, const AnnounceHandler& handler,
            const ConnectionIds& ids, TrackerMetrics& metrics);
  ~UdpServer();
  void start();  // throws boost::system::system_error when the address cannot be bound
  void stop();
  boost::asio::ip::udp::endpoint local_endpoint() const { return local_; }

  // Processes one datagram; returns the reply (empty = drop). Public for tests and fuzzing.
  // `reply` is called with the encoded reply, possibly later and from another thread.
  void process(std::string_view datagram, const boost::asio::ip::udp::endpoint& from,
               std::function<void(std::string&&)> reply) const;

  // Queue-delay shedding (tracker/admission.h); call before start().
  void set_shedding(ShedConfig cfg) { shed_ = cfg; }
  // While a thread sheds: turns a valid announce into the busy reply (no token check, no store
  // work) and returns true; anything else (connect, scrape, errors) returns false and goes
  // through process(). Public for tests.
  bool busy_reply(std::string_view datagram, const boost::asio::ip::udp::endpoint& from, std::string& out) const;

 private:
  struct Worker;
  IoPool& pool_;
  boost::asio::ip::udp::endpoint bind_, local_;
  const AnnounceHandler& handler_;
  const ConnectionIds& ids_;
  TrackerMetrics& m_;
  ShedConfig shed_{.queue_delay_ms = 0};
  std::vector<std::shared_ptr<Worker>> workers_;
};

}  // namespace otaswarm

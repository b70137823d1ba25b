#pragma once
// BEP 15 client: one connected UDP socket per source slot, a cached connection ID per socket,
// announces matched to replies by transaction ID, overdue ones timed out in send order.
#include <boost/asio/ip/udp.hpp>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/proto/bep15_client.h"
#include "loadtest/load/worker.h"

namespace otaswarm::loadtest {

// BEP 15 lets a client reuse a connection ID for one minute; stay a little under it.
inline constexpr int64_t kConnectionIdReuseNs = 55'000'000'000;
inline constexpr int kUdpSocketBuffer = 4 << 20;
// Datagrams drained per wake-up before yielding back to the scheduler tick.
inline constexpr unsigned kMaxDatagramsPerWake = 256;
inline constexpr size_t kMaxDatagram = 65536;

class UdpWorker final : public Worker {
 public:
  explicit UdpWorker(WorkerConfig config);
  void prepare() override;

 protected:
  void issue(uint32_t phone, Phase phase, int64_t now_ns) override;
  void sweep(int64_t now_ns) override;
  size_t inflight() const override { return inflight_.size(); }
  void shutdown() override;

 private:
  struct Sock {
    explicit Sock(boost::asio::io_context& io) : socket(io) {}
    boost::asio::ip::udp::socket socket;
    uint64_t connection_id = 0;
    int64_t connection_valid_until = 0;
    bool connecting = false;
    std::vector<uint32_t> waiting;  // announces queued behind the pending connect
  };
  struct InFlight {
    uint32_t sock = 0;
    bool is_connect = false;
    bool waiting = false;
    Phase phase = Phase::steady;
    Announce announce;
    int64_t sent_ns = 0, deadline_ns = 0;
  };

  Sock& socket_for(uint32_t slot, size_t& index);
  void open_socket(uint32_t slot);
  void arm_receive(size_t index);
  void on_readable(size_t index);
  void on_datagram(size_t index, std::span<const uint8_t> data, int64_t now);
  void send_connect(size_t index, int64_t now);
  void send_announce(size_t index, uint32_t txid, InFlight& f, int64_t now);
  void fail(uint32_t txid, ErrorKind kind, int64_t now);

  boost::asio::ip::udp::endpoint server_;
  bool ipv6_ = false;
  std::vector<std::unique_ptr<Sock>> socks_;
  std::vector<int32_t> slot_sock_;  // slot → index in socks_, -1 until opened
  std::unordered_map<uint32_t, InFlight> inflight_;
  std::deque<std::pair<int64_t, uint32_t>> deadlines_;  // FIFO: all requests share one timeout
  std::vector<uint8_t> rx_;
  std::array<uint8_t, bep15::kMaxAnnounceRequest> tx_{};
  uint32_t next_txid_;
  bool closing_ = false;
};

}  // namespace otaswarm::loadtest

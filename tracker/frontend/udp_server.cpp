#include "tracker/frontend/udp_server.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "common/proto/bep15.h"

namespace otaswarm {

namespace asio = boost::asio;
using udp_t = asio::ip::udp;

namespace {
// Queue delay is sampled at most once per this many datagrams (one ioctl each).
constexpr unsigned kShedSampleEvery = 8;
// UDP payload that crosses any IPv6-era path unfragmented: 1280-byte MTU - 20 (IPv4) - 8 (UDP).
constexpr size_t kUdpPayloadFitsAnyPath = 1280 - 28;
constexpr size_t kAnnounceReplyHeader = 20;  // BEP 15: action, transaction id, interval, leechers, seeders
constexpr size_t kCompactPeerV4 = 6;

// BEP 15 action field (bytes 8..11) says announce: only those are shed.
bool is_announce(const char* d, size_t n) {
  return n >= 16 && d[8] == 0 && d[9] == 0 && d[10] == 0 && d[11] == static_cast<char>(udp::Action::announce);
}

// Milliseconds the last datagram read from `fd` waited between the kernel's receipt and now.
double last_datagram_delay_ms(int fd) {
  timeval stamp{};
  if (::ioctl(fd, SIOCGSTAMP, &stamp) != 0) return 0;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  double ms = (now.tv_sec - stamp.tv_sec) * 1e3 + (now.tv_nsec / 1e6 - stamp.tv_usec / 1e3);
  return ms > 0 ? ms : 0;
}
}  // namespace

struct UdpServer::Worker : std::enable_shared_from_this<UdpServer::Worker> {
  struct Outgoing {
    std::string data;
    udp_t::endpoint to;
  };

  Worker(asio::io_context& c, const UdpServer& srv)
      : ctx(c), socket(c), server(srv), gate(srv.shed_, *srv.handler_.context().clock) {
    for (size_t i = 0; i < kUdpBatch; ++i) {
      in_iov[i] = {in_buf[i].data(), kUdpMaxDatagram};
      auto& h = in_msg[i].msg_hdr;
      h.msg_name = &in_addr[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &in_iov[i];
      h.msg_iovlen = 1;
    }
    out.reserve(kUdpBatch * kUdpBatchesPerWake);
  }
  asio::io_context& ctx;
  udp_t::socket socket;
  const UdpServer& server;
  std::array<std::array<char, kUdpMaxDatagram>, kUdpBatch> in_buf{};
  std::array<iovec, kUdpBatch> in_iov{};
  std::array<sockaddr_storage, kUdpBatch> in_addr{};
  std::array<mmsghdr, kUdpBatch> in_msg{};
  std::array<mmsghdr, kUdpBatch> out_msg{};
  std::array<iovec, kUdpBatch> out_iov{};
  std::vector<Outgoing> out;     // replies of the batch being processed, sent together
  std::vector<Outgoing> queued;  // replies a full send buffer refused, from queued_head on
  size_t queued_head = 0;
  bool in_batch = false;
  bool waiting_writable = false;
  QueueDelayGate gate;  // this thread's: the queue it measures is this socket's
  unsigned since_sample = 0;
  int receive_buffer = kUdpReceiveBuffer;

  void wait_readable() {
    socket.async_wait(udp_t::socket::wait_read, [self = shared_from_this()](auto ec) {
      if (ec == asio::error::operation_aborted || !self->socket.is_open()) return;
      self->on_readable();
    });
  }

  // Drains up to kUdpBatchesPerWake batches. The reactor is edge-triggered, so it is asked
  // to wait only after recvmmsg said EAGAIN; otherwise the drain continues as a posted
  // handler, behind whatever else this thread has queued.
  void on_readable() {
    bool drained = false;
    in_batch = true;
    for (size_t round = 0; round < kUdpBatchesPerWake && !drained; ++round) {
      int n = ::recvmmsg(socket.native_handle(), in_msg.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) drained = true;
        // Anything else is a pending socket error, reported once: the drain goes on after it.
        else log::warn("udp recvmmsg failed", {{"error", std::strerror(errno)}});
        break;
      }
      // The stamp SIOCGSTAMP reads back is the batch's last datagram's: one ioctl per batch at most.
      // While shedding, every batch is sampled: its verdict rests on its own delay.
      if (gate.enabled() && ((since_sample += static_cast<unsigned>(n)) >= kShedSampleEvery || gate.shedding())) {
        since_sample = 0;
        gate.sample(last_datagram_delay_ms(socket.native_handle()));
        resize_receive_buffer();
      }
      for (int i = 0; i < n; ++i) {
        handle(in_buf[i].data(), in_msg[i].msg_len, in_addr[i], in_msg[i].msg_hdr.msg_namelen);
        in_msg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);  // the only field recvmmsg changes but msg_len
      }
      if (static_cast<size_t>(n) < kUdpBatch) drained = true;
    }
    in_batch = false;
    flush();
    if (drained) wait_readable();
    else asio::post(ctx, [self = shared_from_this()] {
      if (self->socket.is_open()) self->on_readable();
    });
  }

  // During a shedding episode a small receive buffer lets the kernel drop the excess for free
  // (a datagram read only to be shed still costs its receive); outside one, the full buffer
  // absorbs bursts.
  void resize_receive_buffer() {
    int want = server.shed_.receive_buffer > 0 && gate.in_episode() ? server.shed_.receive_buffer : kUdpReceiveBuffer;
    if (want == receive_buffer) return;
    receive_buffer = want;
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
  }

  void handle(const char* data, size_t n, const sockaddr_storage& addr, socklen_t addr_len) {
    udp_t::endpoint to;
    if (addr_len > to.capacity()) return;
    std::memcpy(to.data(), &addr, addr_len);
    to.resize(addr_len);
    if (gate.enabled() && is_announce(data, n)) {
      switch (gate.next()) {
        case QueueDelayGate::Verdict::handle: break;
        case QueueDelayGate::Verdict::drop:
          server.m_.shed_ctr[TrackerMetrics::kShedQueueDelayDropped]->inc();
          return;
        case QueueDelayGate::Verdict::busy_reply: {
          std::string busy;
          if (!server.busy_reply(std::string_view(data, n), to, busy)) break;
          return emit(std::move(busy), to);
        }
      }
    }
    auto self = shared_from_this();
    server.process(std::string_view(data, n), to, [self, to](std::string&& reply) {
      if (reply.empty()) return;
      if (self->ctx.get_executor().running_in_this_thread()) return self->emit(std::move(reply), to);
      asio::post(self->ctx, [self, to, r = std::move(reply)]() mutable {
        if (self->socket.is_open()) self->emit(std::move(r), to);
      });
    });
  }

  // Replies made while a batch is processed leave with it; a later (asynchronous) reply is
  // sent at once unless earlier ones are queued behind a full send buffer.
  void emit(std::string&& data, const udp_t::endpoint& to) {
    out.push_back({std::move(data), to});
    if (!in_batch) flush();
  }

  void flush() {
    size_t sent = pending() == 0 ? send_batches(out.data(), out.size()) : 0;
    for (size_t i = sent; i < out.size(); ++i) enqueue(std::move(out[i]));
    out.clear();
  }

  // Sends what it can without blocking; returns how many replies are done (sent, or failed
  // and counted). The rest met a full send buffer.
  size_t send_batches(Outgoing* o, size_t count) {
    size_t done = 0;
    while (done < count) {
      size_t k = std::min(kUdpBatch, count - done);
      for (size_t i = 0; i < k; ++i) {
        auto& r = o[done + i];
        out_iov[i] = {r.data.data(), r.data.size()};
        auto& h = out_msg[i].msg_hdr;
        h = {};
        h.msg_name = r.to.data();
        h.msg_namelen = static_cast<socklen_t>(r.to.size());
        h.msg_iov = &out_iov[i];
        h.msg_iovlen = 1;
      }
      int n = ::sendmmsg(socket.native_handle(), out_msg.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // This reply cannot be sent (unreachable destination, bad address, …): count it, go on.
      server.m_.dropped[TrackerMetrics::kSendFailed]->inc();
      ++done;
    }
    return done;
  }

  size_t pending() const { return queued.size() - queued_head; }

  void enqueue(Outgoing&& o) {
    if (pending() >= kUdpMaxQueuedReplies) {
      server.m_.dropped[TrackerMetrics::kSendQueueFull]->inc();
      return;
    }
    queued.push_back(std::move(o));
    arm_writable();
  }

  void arm_writable() {
    if (waiting_writable) return;
    waiting_writable = true;
    socket.async_wait(udp_t::socket::wait_write, [self = shared_from_this()](auto ec) {
      self->waiting_writable = false;
      if (ec == asio::error::operation_aborted || !self->socket.is_open()) return;
      self->on_writable();
    });
  }

  void on_writable() {
    queued_head += send_batches(queued.data() + queued_head, pending());
    if (pending() == 0) {
      queued.clear();
      queued_head = 0;
      return;
    }
    if (queued_head >= kUdpMaxQueuedReplies) {  // keeps the vector bounded while it never empties
      queued.erase(queued.begin(), queued.begin() + static_cast<std::ptrdiff_t>(queued_head));
      queued_head = 0;
    }
    arm_writable();
  }
};

UdpServer::UdpServer(IoPool& pool, udp_t::endpoint bind, const AnnounceHandler& handler, const ConnectionIds& ids,
                     TrackerMetrics& metrics)
    : pool_(pool), bind_(bind), handler_(handler), ids_(ids), m_(metrics) {}

UdpServer::~UdpServer() { stop(); }

void UdpServer::start() {
  auto ep = bind_;
  for (size_t i = 0; i < pool_.size(); ++i) {
    auto w = std::make_shared<Worker>(pool_.at(i), *this);
    w->socket.open(ep.protocol());
    w->socket.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    ::setsockopt(w->socket.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (ep.address().is_v6()) w->socket.set_option(asio::ip::v6_only(true));
    // Linux picks an IPv4 ID per datagram from a hashed, shared counter unless the datagram
    // carries DF and may not be fragmented locally. Our replies carry DF already (the default
    // sets it up to the route MTU); when even the largest one fits any path, saying so
    // (IP_PMTUDISC_PROBE) lets the kernel skip the ID (RFC 6864) and its per-datagram cost.
    const uint32_t numwant_max = handler_.context().policy.numwant_max;
    if (!ep.address().is_v6() && kAnnounceReplyHeader + kCompactPeerV4 * numwant_max <= kUdpPayloadFitsAnyPath) {
      int probe = IP_PMTUDISC_PROBE;
      ::setsockopt(w->socket.native_handle(), IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
    }
    w->socket.set_option(asio::socket_base::receive_buffer_size(kUdpReceiveBuffer));
    w->socket.bind(ep);
    w->socket.non_blocking(true);
    if (shed_.queue_delay_ms > 0) {
      // The first SIOCGSTAMP switches on receive timestamps (it fails: nothing read yet); later ones
      // return the last datagram's. Not SO_TIMESTAMP: with it the kernel keeps no stamp to read back.
      timeval unused{};
      ::ioctl(w->socket.native_handle(), SIOCGSTAMP, &unused);
    }
    if (i == 0) {
      local_ = w->socket.local_endpoint();
      ep = local_;  // port 0: the other sockets join the port the first one got
    }
    workers_.push_back(w);
  }
  for (auto& w : workers_) asio::post(w->socket.get_executor(), [w] { w->wait_readable(); });
}

void UdpServer::stop() {
  for (auto& w : workers_) {
    asio::post(w->socket.get_executor(), [w] {
      boost::system::error_code ec;
      w->socket.close(ec);
    });
  }
  workers_.clear();
}

bool UdpServer::busy_reply(std::string_view datagram, const udp_t::endpoint& from, std::string& out) const {
  auto pk = udp::parse(datagram);
  if (pk.error != udp::ParseError::ok || pk.action != udp::Action::announce) return false;
  const auto source = from.address();
  if (!ids_.valid(pk.announce.connection_id, source) || pk.announce.event > 3) return false;
  const AdmissionController* adm = handler_.context().admission;
  double factor = adm ? adm->interval_factor() : 1.0;
  auto retry = static_cast<uint32_t>(std::ceil(shed_.retry_s * factor));
  m_.shed_ctr[TrackerMetrics::kShedQueueDelay]->inc();
  m_.reject_counter(Reject::overloaded).inc();
  // BEP 15's event numbers are store::Event's (checked above: <= 3).
  m_.announce_counter(Protocol::udp, static_cast<store::Event>(pk.announce.event), TrackerMetrics::AnnounceResult::rate_limited).inc();
  out = udp::build_error(pk.transaction_id, "tracker busy: retry in " + std::to_string(retry) + " s");
  return true;
}

void UdpServer::process(std::string_view datagram, const udp_t::endpoint& from,
                        std::function<void(std::string&&)> reply) const {
  auto pk = udp::parse(datagram);
  auto drop = [&](TrackerMetrics::DropReason reason) { m_.dropped[reason]->inc(); };
  switch (pk.error) {
    case udp::ParseError::ok: break;
    case udp::ParseError::truncated:
      if (datagram.size() < 16) return drop(TrackerMetrics::kTruncated);
      m_.reject_counter(Reject::bad_request).inc();
      return reply(udp::build_error(pk.transaction_id, "truncated request"));
    case udp::ParseError::bad_protocol_id: return drop(TrackerMetrics::kGarbage);
    case udp::ParseError::unknown_action: return drop(TrackerMetrics::kUnknownAction);
    case udp::ParseError::bad_options:
      m_.reject_counter(Reject::bad_request).inc();
      return reply(udp::build_error(pk.transaction_id, "malformed BEP 41 options"));
    case udp::ParseError::too_many_hashes:
      m_.reject_counter(Reject::bad_request).inc();
      return reply(udp::build_error(pk.transaction_id, "too many info hashes in scrape"));
  }
  const auto source = from.address();
  if (pk.action == udp::Action::connect) {
    auto t0 = std::chrono::steady_clock::now();
    m_.udp_connects.inc();
    auto r = udp::build_connect(pk.transaction_id, ids_.issue(source));
    m_.latency(Protocol::udp, TrackerMetrics::Action::connect).observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return reply(std::move(r));
  }
  uint64_t cid = pk.action == udp::Action::announce ? pk.announce.connection_id : pk.scrape.connection_id;
  if (!ids_.valid(cid, source)) {
    m_.reject_counter(Reject::bad_connection_id).inc();
    return reply(udp::build_error(pk.transaction_id, "invalid or expired connection id"));
  }
  uint32_t tid = pk.transaction_id;
  if (pk.action == udp::Action::scrape) {
    ScrapeRequest req;
    req.protocol = Protocol::udp;
    req.source = source;
    req.info_hashes.assign(pk.scrape.info_hashes.begin(), pk.scrape.info_hashes.end());
    return handler_.scrape(req, [tid, reply](ScrapeResponse&& res) {
      if (!res.failure.empty()) return reply(udp::build_error(tid, res.failure));
      // BEP 15 replies in request order; unknown hashes read as zeros.
      std::vector<udp::ScrapeEntry> entries;
      for (const auto& f : res.files) entries.push_back({f.complete, static_cast<uint32_t>(f.downloaded), f.incomplete});
      reply(udp::build_scrape(tid, entries));
    });
  }
  AnnounceRequest req;
  std::string_view error;
  if (Reject why = request_from_bep15(pk.announce, source, req, error); why != Reject::none) {
    m_.reject_counter(why).inc();
    return reply(udp::build_error(tid, error));
  }
  bool v6 = net::unmap(source).is_v6();
  handler_.announce(req, [tid, v6, reply = std::move(reply)](AnnounceResponse&& res) {
    if (!res.failure.empty()) return reply(udp::build_error(tid, res.failure));
    reply(encode_bep15_announce(tid, v6, res));
  });
}

}  // namespace otaswarm

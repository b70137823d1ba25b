#include "rendezvous/stun_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "common/log.h"

namespace otaswarm::rendezvous {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

namespace {
constexpr int kBindAttempts = 32;
constexpr size_t kRecvBuffer = stun::kMaxMessageSize + 1;  // one extra byte reveals oversize datagrams
constexpr auto kTcpIdle = std::chrono::seconds(10);

udp::endpoint to_udp(const Endpoint& e) { return {e.address, e.port}; }
Endpoint from_udp(const udp::endpoint& e) { return {net::unmap(e.address()), e.port()}; }
}  // namespace

// One UDP socket's batch: recvmmsg fills up to kStunBatch datagrams, the replies that leave
// from this socket collect in `out` and go with one sendmmsg per kStunBatch. Everything is
// allocated once; a slot holds a maximum-size STUN message, but only the pages a datagram
// touches become resident.
struct StunPort {
  std::unique_ptr<char[]> buf{new char[kStunBatch * kRecvBuffer]};
  std::array<iovec, kStunBatch> iov{};
  std::array<sockaddr_storage, kStunBatch> addr{};
  std::array<mmsghdr, kStunBatch> msg{};
  std::vector<Reply> out;  // capacity kept between batches
  std::array<udp::endpoint, kStunBatch> out_to{};
  std::array<iovec, kStunBatch> out_iov{};
  std::array<mmsghdr, kStunBatch> out_msg{};
  StunPort() {
    for (size_t i = 0; i < kStunBatch; ++i) {
      iov[i] = {buf.get() + i * kRecvBuffer, kRecvBuffer};
      msg[i].msg_hdr.msg_name = &addr[i];
      msg[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msg[i].msg_hdr.msg_iov = &iov[i];
      msg[i].msg_hdr.msg_iovlen = 1;
    }
    out.reserve(kStunBatch * kStunBatchesPerWake);
  }
};

struct StunServer::Worker {
  asio::io_context& io;
  std::array<std::unique_ptr<udp::socket>, kSocketCount> socks;
  std::array<std::unique_ptr<StunPort>, kSocketCount> ports;
  StunHandler handler;
  Metrics& m;
  // Resolved once: the label lookup takes the family's lock, the increment does not.
  std::array<metrics::Counter*, kOutcomeCount> udp_results{}, tcp_results{};
  // This thread's UDP counts, added to the shared counters once per drained batch, so the
  // hot path touches no cache line another thread writes.
  std::array<uint64_t, kOutcomeCount> udp_counts{};
  std::unordered_map<std::string, metrics::Counter*> drop_counters;  // reason → counter
  std::unordered_map<metrics::Counter*, uint64_t> drop_counts;
  Worker(asio::io_context& io, const HandlerConfig& cfg, Shared sh) : io(io), handler(cfg, sh), m(sh.metrics) {
    // Not `pending`: such a request is counted once its answer is known.
    for (auto o : {Outcome::ok, Outcome::error, Outcome::dropped, Outcome::rate_limited}) {
      udp_results[static_cast<size_t>(o)] = &sh.metrics.stun_requests.with({"udp", to_string(o)});
      tcp_results[static_cast<size_t>(o)] = &sh.metrics.stun_requests.with({"tcp", to_string(o)});
    }
  }

  void count_drop(const std::string& reason) {
    auto it = drop_counters.find(reason);
    if (it == drop_counters.end()) it = drop_counters.emplace(reason, &m.stun_dropped.with({reason})).first;
    ++drop_counts[it->second];
  }
  void publish_counts() {
    for (size_t o = 0; o < kOutcomeCount; ++o)
      if (udp_counts[o]) {
        udp_results[o]->inc(udp_counts[o]);
        udp_counts[o] = 0;
      }
    for (auto& [c, n] : drop_counts)
      if (n) {
        c->inc(n);
        n = 0;
      }
  }

  void wait_readable(int i) {
    socks[i]->async_wait(udp::socket::wait_read, [this, i](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted || !socks[i]->is_open()) return;
      on_readable(i);
    });
  }

  // Drains up to kStunBatchesPerWake batches, then sends what they produced. The reactor is
  // asked to wait only after recvmmsg found the socket empty; otherwise the drain goes on as a
  // posted handler, behind whatever else this thread has queued (as the tracker's UDP path).
  void on_readable(int i) {
    auto& p = *ports[i];
    int fd = socks[i]->native_handle();
    bool drained = false;
    for (size_t round = 0; round < kStunBatchesPerWake && !drained; ++round) {
      int n = ::recvmmsg(fd, p.msg.data(), kStunBatch, MSG_DONTWAIT, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) drained = true;
        else log::warn("stun recvmmsg failed", {{"error", std::strerror(errno)}});
        break;
      }
      for (int j = 0; j < n; ++j) {
        handle(i, p.iov[j].iov_base, p.msg[j].msg_len, p.addr[j], p.msg[j].msg_hdr.msg_namelen);
        p.msg[j].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
      if (static_cast<size_t>(n) < kStunBatch) drained = true;
    }
    flush();
    publish_counts();
    if (drained) wait_readable(i);
    else asio::post(io, [this, i] {
      if (socks[i]->is_open()) on_readable(i);
    });
  }

  void handle(int i, void* data, size_t n, const sockaddr_storage& addr, socklen_t addr_len) {
    if (n > stun::kMaxMessageSize) return count_drop("too_large");
    udp::endpoint from;
    if (addr_len > from.capacity()) return;
    std::memcpy(from.data(), &addr, addr_len);
    from.resize(addr_len);
    Inbound in{std::string_view(static_cast<const char*>(data), n), from_udp(from), i, Transport::udp};
    // A connect naming a device registered with another replica is answered once the shared
    // store has been asked; the reply is sent from this thread, which owns the sockets.
    auto later = [this](Result&& r) { asio::post(io, [this, r = std::move(r)]() mutable { send_now(std::move(r)); }); };
    Result r = handler.process(in, later);
    if (r.outcome == Outcome::pending) return;
    ++udp_counts[static_cast<size_t>(r.outcome)];
    if (!r.drop_reason.empty()) count_drop(r.drop_reason);
    for (auto& rep : r.replies)
      if (ports[rep.from_index]) ports[rep.from_index]->out.push_back(std::move(rep));
  }

  // A reply that was pending on the shared store: sent at once, with whatever else is queued.
  void send_now(Result&& r) {
    ++udp_counts[static_cast<size_t>(r.outcome)];
    if (!r.drop_reason.empty()) count_drop(r.drop_reason);
    for (auto& rep : r.replies)
      if (ports[rep.from_index]) ports[rep.from_index]->out.push_back(std::move(rep));
    flush();
    publish_counts();
  }

  void flush() {
    for (int i = 0; i < kSocketCount; ++i) {
      if (!ports[i] || ports[i]->out.empty()) continue;
      auto& p = *ports[i];
      if (socks[i]->is_open()) send_batches(socks[i]->native_handle(), p);
      p.out.clear();
    }
  }

  // Non-blocking: a reply the socket cannot take now (full send buffer, unreachable
  // destination) is dropped and counted, as a lost datagram would be; the client retransmits.
  void send_batches(int fd, StunPort& p) {
    size_t done = 0, count = p.out.size();
    while (done < count) {
      size_t k = std::min(kStunBatch, count - done);
      for (size_t j = 0; j < k; ++j) {
        auto& r = p.out[done + j];
        p.out_to[j] = to_udp(r.to);
        p.out_iov[j] = {r.bytes.data(), r.bytes.size()};
        auto& h = p.out_msg[j].msg_hdr;
        h = {};
        h.msg_name = p.out_to[j].data();
        h.msg_namelen = static_cast<socklen_t>(p.out_to[j].size());
        h.msg_iov = &p.out_iov[j];
        h.msg_iovlen = 1;
      }
      int n = ::sendmmsg(fd, p.out_msg.data(), static_cast<unsigned>(k), MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      count_drop("send_failed");
      ++done;
    }
  }
};

struct StunServer::TcpState {
  std::atomic<size_t> open{0};
  // Open sessions, so stop() can close them; each socket is only touched on its own thread.
  std::mutex mu;
  std::set<tcp::socket*> sockets;
  bool stopping = false;
};

StunServer::StunServer(IoPool& pool, HandlerConfig& cfg, Shared shared)
    : pool_(pool), cfg_(cfg), sh_(shared), tcp_(std::make_shared<TcpState>()) {}

StunServer::~StunServer() = default;

static std::unique_ptr<udp::socket> open_udp(asio::io_context& io, const net::Address& a, uint16_t port,
                                             boost::system::error_code& ec) {
  auto s = std::make_unique<udp::socket>(io);
  udp::endpoint ep(a, port);
  s->open(ep.protocol(), ec);
  if (ec) return nullptr;
  s->set_option(ReusePort(true), ec);
  boost::system::error_code ignored;  // capped by net.core.rmem_max; a smaller buffer still works
  s->set_option(asio::socket_base::receive_buffer_size(kStunReceiveBuffer), ignored);
  if (a.is_v6()) s->set_option(asio::ip::v6_only(true), ec);
  s->bind(ep, ec);
  if (ec) return nullptr;
  s->non_blocking(true, ec);
  return s;
}

void StunServer::bind(const StunBind& b) {
  max_tcp_ = b.max_tcp_connections;
  const bool any_port = b.primary.port == 0;
  const bool has_alt = b.alt_ip.has_value();
  cfg_.has_alt_ip = has_alt;
  for (size_t t = 0; t < pool_.size(); ++t) workers_.push_back(std::make_unique<Worker>(pool_.at(t), cfg_, sh_));
  auto& w0 = *workers_[0];
  boost::system::error_code ec;
  std::string failed;
  for (int attempt = 0; attempt < kBindAttempts; ++attempt) {
    for (auto& s : w0.socks) s.reset();
    acceptor_.reset();
    failed.clear();
    auto fail = [&](const net::Address& a, uint16_t port) { failed = net::format(a, port) + ": " + ec.message(); };
    w0.socks[0] = open_udp(w0.io, b.primary.address, b.primary.port, ec);
    if (!w0.socks[0]) {
      fail(b.primary.address, b.primary.port);
      break;  // the primary itself cannot be bound: retrying will not help
    }
    uint16_t p = w0.socks[0]->local_endpoint().port();
    uint16_t q = b.alt_port != 0 ? b.alt_port : any_port ? 0 : static_cast<uint16_t>(p + 1);
    w0.socks[kAltPortBit] = open_udp(w0.io, b.primary.address, q, ec);
    if (!w0.socks[kAltPortBit]) {
      fail(b.primary.address, q);
      if (any_port) continue;
      break;
    }
    q = w0.socks[kAltPortBit]->local_endpoint().port();
    if (has_alt) {
      w0.socks[kAltIpBit] = open_udp(w0.io, *b.alt_ip, p, ec);
      if (w0.socks[kAltIpBit]) w0.socks[kAltIpBit | kAltPortBit] = open_udp(w0.io, *b.alt_ip, q, ec);
      if (!w0.socks[kAltIpBit] || !w0.socks[kAltIpBit | kAltPortBit]) {
        fail(*b.alt_ip, w0.socks[kAltIpBit] ? q : p);
        if (any_port) continue;
        break;
      }
    }
    // STUN over TCP on the primary address and port.
    acceptor_ = std::make_unique<tcp::acceptor>(w0.io);
    tcp::endpoint tep(b.primary.address, p);
    acceptor_->open(tep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && tep.address().is_v6()) acceptor_->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor_->bind(tep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      fail(b.primary.address, p);
      if (any_port) continue;
      break;
    }
    tcp_local_ = acceptor_->local_endpoint();
    break;
  }
  if (!failed.empty()) throw std::runtime_error("cannot bind STUN socket " + failed);
  for (int i = 0; i < kSocketCount; ++i)
    if (w0.socks[i]) cfg_.local[i] = from_udp(w0.socks[i]->local_endpoint());
  // The other threads get their own copy of each socket on the same addresses.
  for (size_t t = 1; t < workers_.size(); ++t)
    for (int i = 0; i < kSocketCount; ++i) {
      if (cfg_.local[i].empty()) continue;
      workers_[t]->socks[i] = open_udp(workers_[t]->io, cfg_.local[i].address, cfg_.local[i].port, ec);
      if (!workers_[t]->socks[i]) throw std::runtime_error("cannot bind STUN socket " + cfg_.local[i].text() + ": " + ec.message());
    }
  sh_.store.subscribe(cfg_.replica, [this](const Notice& n) { send_notice(n); });
}

void StunServer::send_notice(const Notice& n) {
  if (workers_.empty() || n.socket_index < 0 || n.socket_index >= kSocketCount) return;
  auto& w = *workers_[0];
  // Sockets belong to their thread: hand the send to worker 0's context.
  asio::post(w.io, [&w, n] {
    auto& s = w.socks[n.socket_index];
    if (!s || !s->is_open()) return;
    boost::system::error_code ec;
    s->send_to(asio::buffer(n.bytes), to_udp(n.to), 0, ec);
  });
}

namespace {
asio::awaitable<void> tcp_session(tcp::socket sock, StunServer::Worker& w, Metrics& m,
                                  std::shared_ptr<StunServer::TcpState> st, int local_index) {
  {
    std::lock_guard lk(st->mu);
    if (st->stopping) {
      st->open.fetch_sub(1);
      co_return;
    }
    st->sockets.insert(&sock);
  }
  struct Release {
    std::shared_ptr<StunServer::TcpState> st;
    tcp::socket* sock;
    ~Release() {
      std::lock_guard lk(st->mu);
      st->sockets.erase(sock);
      st->open.fetch_sub(1);
    }
  } release{st, &sock};
  asio::steady_timer idle(sock.get_executor());
  boost::system::error_code rec;
  auto remote = sock.remote_endpoint(rec);
  if (rec) co_return;
  std::array<char, stun::kMaxMessageSize> buf{};
  for (;;) {
    idle.expires_after(kTcpIdle);
    idle.async_wait([&sock](boost::system::error_code e) {
      if (!e) {
        boost::system::error_code ig;
        sock.close(ig);
      }
    });
    boost::system::error_code ec;
    co_await asio::async_read(sock, asio::buffer(buf.data(), stun::kHeaderSize),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    auto total = stun::framed_size(std::string_view(buf.data(), stun::kHeaderSize));
    if (!total || *total > stun::kMaxMessageSize) {
      m.stun_dropped.with({"tcp_framing"}).inc();
      break;
    }
    co_await asio::async_read(sock, asio::buffer(buf.data() + stun::kHeaderSize, *total - stun::kHeaderSize),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    idle.cancel();
    Inbound in{std::string_view(buf.data(), *total), Endpoint{net::unmap(remote.address()), remote.port()},
               local_index, Transport::tcp};
    // A pending answer wakes the session through `ready` (cancelled on the session's executor).
    auto slot = std::make_shared<std::optional<Result>>();
    asio::steady_timer ready(sock.get_executor(), asio::steady_timer::time_point::max());
    auto ex = sock.get_executor();
    Result r = w.handler.process(in, [slot, ex, &ready](Result&& done) {
      asio::post(ex, [slot, &ready, done = std::move(done)]() mutable {
        *slot = std::move(done);
        ready.cancel();
      });
    });
    if (r.outcome == Outcome::pending) {
      while (!*slot) {
        boost::system::error_code wec;
        co_await ready.async_wait(asio::redirect_error(asio::use_awaitable, wec));
      }
      r = std::move(**slot);
    }
    w.tcp_results[static_cast<size_t>(r.outcome)]->inc();
    if (!r.drop_reason.empty()) m.stun_dropped.with({r.drop_reason}).inc();
    for (auto& rep : r.replies) {
      co_await asio::async_write(sock, asio::buffer(rep.bytes), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    if (ec || r.outcome == Outcome::dropped) break;
  }
  idle.cancel();
  sock.close(rec);
}

void do_accept(tcp::acceptor& acc, std::vector<std::unique_ptr<StunServer::Worker>>& workers, Metrics& m,
               std::shared_ptr<StunServer::TcpState> st, size_t max_open, std::shared_ptr<std::atomic<size_t>> rr) {
  auto& w = *workers[rr->fetch_add(1) % workers.size()];
  acc.async_accept(w.io, [&acc, &workers, &m, st, max_open, rr, &w](boost::system::error_code ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || !acc.is_open()) return;
    if (!ec) {
      if (st->open.load() >= max_open) {
        m.stun_dropped.with({"tcp_connection_limit"}).inc();
        boost::system::error_code ig;
        s.close(ig);
      } else {
        st->open.fetch_add(1);
        auto& io = w.io;
        asio::co_spawn(io, tcp_session(std::move(s), w, m, st, 0), asio::detached);
      }
    }
    do_accept(acc, workers, m, st, max_open, rr);
  });
}
}  // namespace

void StunServer::start() {
  for (auto& w : workers_)
    for (int i = 0; i < kSocketCount; ++i)
      if (w->socks[i]) {
        w->ports[i] = std::make_unique<StunPort>();
        auto* wp = w.get();
        asio::post(w->io, [wp, i] { wp->wait_readable(i); });
      }
  if (acceptor_) do_accept(*acceptor_, workers_, sh_.metrics, tcp_, max_tcp_, std::make_shared<std::atomic<size_t>>(0));
}

void StunServer::stop() {
  for (auto& w : workers_) {
    auto* wp = w.get();
    asio::post(w->io, [wp] {
      for (auto& s : wp->socks)
        if (s) {
          boost::system::error_code ec;
          s->close(ec);
        }
    });
  }
  {
    std::lock_guard lk(tcp_->mu);
    tcp_->stopping = true;
    for (auto* sock : tcp_->sockets)
      asio::post(sock->get_executor(), [st = tcp_, sock] {
        std::lock_guard lk2(st->mu);
        // Still registered means the session is alive: this runs on its thread, between its steps.
        if (st->sockets.count(sock)) {
          boost::system::error_code ec;
          sock->close(ec);
        }
      });
  }
  if (acceptor_) {
    auto* acc = acceptor_.get();
    asio::post(workers_[0]->io, [acc] {
      boost::system::error_code ec;
      acc->close(ec);
    });
  }
}

}  // namespace otaswarm::rendezvous

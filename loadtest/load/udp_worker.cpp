#include "loadtest/load/udp_worker.h"

#include <boost/asio/socket_base.hpp>
#include <stdexcept>

#include "common/crypto.h"

namespace otaswarm::loadtest {

using boost::asio::ip::udp;

UdpWorker::UdpWorker(WorkerConfig config) : Worker(std::move(config)), rx_(kMaxDatagram) {
  server_ = udp::endpoint(config_.target.server.address, config_.target.server.port);
  ipv6_ = server_.address().is_v6();
  slot_sock_.assign(config_.population->slots(), -1);
  next_txid_ = static_cast<uint32_t>(crypto::random_u64());
}

void UdpWorker::prepare() {
  // Open the sockets of this worker's phones up front, so bind errors surface before the run.
  uint32_t phones = config_.population->size();
  for (uint32_t p = config_.index; p < phones && socks_.size() < config_.population->slots(); p += config_.count) {
    uint32_t slot = config_.population->slot_of(p);
    if (slot_sock_[slot] < 0) open_socket(slot);
  }
}

void UdpWorker::open_socket(uint32_t slot) {
  auto s = std::make_unique<Sock>(io_);
  boost::system::error_code ec;
  s->socket.open(ipv6_ ? udp::v6() : udp::v4(), ec);
  if (!ec) s->socket.set_option(boost::asio::socket_base::receive_buffer_size(kUdpSocketBuffer), ec);
  if (!ec) s->socket.set_option(boost::asio::socket_base::send_buffer_size(kUdpSocketBuffer), ec);
  if (auto src = config_.population->source_address(slot); src && !ec) s->socket.bind(udp::endpoint(*src, 0), ec);
  // A connected socket only accepts the tracker's datagrams and sends without a route lookup.
  if (!ec) s->socket.connect(server_, ec);
  if (!ec) s->socket.non_blocking(true, ec);
  if (ec) {
    auto src = config_.population->source_address(slot);
    throw std::runtime_error("cannot open a UDP socket" + (src ? " on " + src->to_string() : std::string()) +
                             " towards " + net::format(server_) + ": " + ec.message());
  }
  slot_sock_[slot] = static_cast<int32_t>(socks_.size());
  socks_.push_back(std::move(s));
  arm_receive(socks_.size() - 1);
}

UdpWorker::Sock& UdpWorker::socket_for(uint32_t slot, size_t& index) {
  if (slot_sock_[slot] < 0) open_socket(slot);
  index = static_cast<size_t>(slot_sock_[slot]);
  return *socks_[index];
}

void UdpWorker::arm_receive(size_t index) {
  socks_[index]->socket.async_wait(udp::socket::wait_read, [this, index](const boost::system::error_code& ec) {
    if (!ec && !closing_) on_readable(index);
  });
}

void UdpWorker::on_readable(size_t index) {
  auto& sock = socks_[index]->socket;
  const int64_t now = now_ns();
  for (unsigned i = 0; i < kMaxDatagramsPerWake; ++i) {
    boost::system::error_code ec;
    size_t n = sock.receive(boost::asio::buffer(rx_), 0, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) break;
    if (ec) {
      // ICMP port unreachable and the like: not tied to one request, which will time out.
      ++stats_.icmp_errors;
      continue;
    }
    on_datagram(index, {rx_.data(), n}, now);
  }
  update_inflight();
  arm_receive(index);
}

void UdpWorker::on_datagram(size_t index, std::span<const uint8_t> data, int64_t now) {
  if (data.size() < bep15::kErrorReplyHeader) {
    ++stats_.stray_datagrams;  // too short to name a transaction
    return;
  }
  bep15::Reply reply;
  auto err = bep15::parse_reply(data, ipv6_, reply);
  auto it = inflight_.find(reply.transaction_id);
  if (it == inflight_.end() || it->second.sock != index) {
    // Most likely the answer to a request that already timed out.
    ++(it == inflight_.end() ? stats_.late_replies : stats_.stray_datagrams);
    return;
  }
  InFlight& f = it->second;
  Sock& s = *socks_[index];
  if (f.is_connect) {
    s.connecting = false;
    std::vector<uint32_t> waiting;
    waiting.swap(s.waiting);
    inflight_.erase(it);
    if (err == bep15::ReplyError::ok && reply.action == bep15::connect) {
      ++stats_.connects_answered;
      s.connection_id = reply.connection_id;
      s.connection_valid_until = now + kConnectionIdReuseNs;
      for (uint32_t txid : waiting)
        if (auto w = inflight_.find(txid); w != inflight_.end()) send_announce(index, txid, w->second, now);
    } else {
      ++stats_.connect_failures;
      ErrorKind kind = err == bep15::ReplyError::ok && reply.action == bep15::error ? ErrorKind::tracker_failure
                                                                                   : ErrorKind::bad_reply;
      if (kind == ErrorKind::tracker_failure) stats_.note_failure("connect: " + reply.message);
      for (uint32_t txid : waiting) fail(txid, kind, now);
    }
    return;
  }
  if (err == bep15::ReplyError::ok && reply.action == bep15::announce) {
    stats_.peers_received += reply.peers;
    record_answer(f.phase, f.sent_ns, now);
    inflight_.erase(it);
  } else if (err == bep15::ReplyError::ok && reply.action == bep15::error) {
    // A refused connection ID (e.g. the tracker rotated its key): connect again next time.
    if (reply.message.find("connection") != std::string::npos) s.connection_valid_until = 0;
    stats_.note_failure(reply.message);
    fail(reply.transaction_id, ErrorKind::tracker_failure, now);
  } else {
    fail(reply.transaction_id, ErrorKind::bad_reply, now);
  }
}

void UdpWorker::fail(uint32_t txid, ErrorKind kind, int64_t now) {
  auto it = inflight_.find(txid);
  if (it == inflight_.end()) return;
  record_error(it->second.phase, kind, now);
  inflight_.erase(it);
}

void UdpWorker::issue(uint32_t phone, Phase phase, int64_t now) {
  if (inflight_.size() >= config_.max_inflight) {
    record_not_sent(phase, NotSentKind::inflight_limit);
    return;
  }
  size_t index = 0;
  Sock& s = socket_for(config_.population->slot_of(phone), index);
  uint32_t txid = next_txid_++;
  InFlight f;
  f.sock = static_cast<uint32_t>(index);
  f.phase = phase;
  f.announce = config_.population->next(phone);
  f.deadline_ns = now + config_.timeout_ns;
  record_sent(phase, f.announce.event);
  auto [it, inserted] = inflight_.emplace(txid, f);
  if (!inserted) {
    // 2^32 requests in flight cannot happen with max_inflight bounded; keep the books right anyway.
    record_error(phase, ErrorKind::send_failed, now);
    return;
  }
  deadlines_.emplace_back(f.deadline_ns, txid);
  if (s.connection_valid_until > now) {
    send_announce(index, txid, it->second, now);
    return;
  }
  it->second.waiting = true;
  s.waiting.push_back(txid);
  if (!s.connecting) send_connect(index, now);
}

void UdpWorker::send_connect(size_t index, int64_t now) {
  Sock& s = *socks_[index];
  uint32_t txid = next_txid_++;
  InFlight f;
  f.sock = static_cast<uint32_t>(index);
  f.is_connect = true;
  f.sent_ns = now;
  f.deadline_ns = now + config_.timeout_ns;
  std::array<uint8_t, bep15::kConnectRequestSize> buf;
  bep15::build_connect(txid, buf);
  boost::system::error_code ec;
  s.socket.send(boost::asio::buffer(buf), 0, ec);
  ++stats_.connects_sent;
  if (ec) {
    ++stats_.connect_failures;
    std::vector<uint32_t> waiting;
    waiting.swap(s.waiting);
    for (uint32_t w : waiting) fail(w, ErrorKind::send_failed, now);
    return;
  }
  s.connecting = true;
  inflight_.emplace(txid, f);
  deadlines_.emplace_back(f.deadline_ns, txid);
}

void UdpWorker::send_announce(size_t index, uint32_t txid, InFlight& f, int64_t now) {
  Sock& s = *socks_[index];
  const Announce& a = f.announce;
  bep15::AnnounceRequest r;
  r.connection_id = s.connection_id;
  r.transaction_id = txid;
  r.info_hash = *a.info_hash;
  r.peer_id = a.peer_id;
  r.downloaded = a.downloaded;
  r.left = a.left;
  r.uploaded = a.uploaded;
  r.event = static_cast<uint32_t>(a.event);
  r.key = a.key;
  r.num_want = config_.numwant;
  r.port = a.port;
  r.url_data = *a.path;
  size_t n = bep15::build_announce(r, tx_);
  f.waiting = false;
  f.sent_ns = now;
  f.deadline_ns = now + config_.timeout_ns;
  boost::system::error_code ec;
  if (n > 0) s.socket.send(boost::asio::buffer(tx_.data(), n), 0, ec);
  if (n == 0 || ec) fail(txid, ErrorKind::send_failed, now);
}

void UdpWorker::sweep(int64_t now) {
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    uint32_t txid = deadlines_.front().second;
    deadlines_.pop_front();
    auto it = inflight_.find(txid);
    if (it == inflight_.end()) continue;
    InFlight& f = it->second;
    if (f.deadline_ns > now) {
      // Re-sent after its connect came back: its clock restarted.
      deadlines_.emplace_back(f.deadline_ns, txid);
      continue;
    }
    if (f.is_connect) {
      ++stats_.connect_failures;
      Sock& s = *socks_[f.sock];
      s.connecting = false;
      s.waiting.clear();  // those announces time out on their own deadlines
      inflight_.erase(it);
      continue;
    }
    record_timeout(f.phase, now);
    inflight_.erase(it);
  }
}

void UdpWorker::shutdown() {
  closing_ = true;
  for (auto& s : socks_) {
    boost::system::error_code ec;
    s->socket.close(ec);
  }
}

}  // namespace otaswarm::loadtest

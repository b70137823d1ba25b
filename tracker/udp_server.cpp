#include "tracker/udp_server.h"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "tracker/udp_protocol.h"

namespace otaswarm {

namespace asio = boost::asio;
using udp_t = asio::ip::udp;

namespace {
// Queue delay is sampled once per this many datagrams (one ioctl each).
constexpr unsigned kShedSampleEvery = 8;

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
  Worker(asio::io_context& c, const UdpServer& srv)
      : ctx(c), socket(c), server(srv), gate(srv.shed_, *srv.handler_.context().clock) {}
  asio::io_context& ctx;
  udp_t::socket socket;
  const UdpServer& server;
  std::array<char, kUdpMaxDatagram> buf{};
  udp_t::endpoint from;
  QueueDelayGate gate;  // this thread's: the queue it measures is this socket's
  unsigned since_sample = 0;

  void receive() {
    socket.async_receive_from(asio::buffer(buf), from, [self = shared_from_this()](auto ec, size_t n) {
      if (ec == asio::error::operation_aborted || !self->socket.is_open()) return;
      if (!ec) self->handle(n);
      self->receive();
    });
  }

  void handle(size_t n) {
    if (gate.enabled()) {
      if (++since_sample >= kShedSampleEvery) {
        since_sample = 0;
        gate.sample(last_datagram_delay_ms(socket.native_handle()));
      }
      if (is_announce(buf.data(), n)) {
        switch (gate.next()) {
          case QueueDelayGate::Verdict::handle: break;
          case QueueDelayGate::Verdict::drop:
            server.m_.shed_ctr[TrackerMetrics::kShedQueueDelayDropped]->inc();
            return;
          case QueueDelayGate::Verdict::busy_reply: {
            std::string busy;
            if (!server.busy_reply(std::string_view(buf.data(), n), from, busy)) break;
            boost::system::error_code ec;
            socket.send_to(asio::buffer(busy), from, 0, ec);
            if (ec) server.m_.dropped[TrackerMetrics::kSendFailed]->inc();
            return;
          }
        }
      }
    }
    auto to = from;
    auto self = shared_from_this();
    server.process(std::string_view(buf.data(), n), to, [self, to](std::string&& reply) {
      if (reply.empty()) return;
      auto send = [self, to, r = std::move(reply)] {
        boost::system::error_code ec;
        self->socket.send_to(asio::buffer(r), to, 0, ec);
        if (ec) self->server.m_.dropped[TrackerMetrics::kSendFailed]->inc();
      };
      if (self->ctx.get_executor().running_in_this_thread()) send();
      else asio::post(self->ctx, std::move(send));
    });
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
    w->socket.set_option(asio::socket_base::receive_buffer_size(4 << 20));
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
  for (auto& w : workers_) asio::post(w->socket.get_executor(), [w] { w->receive(); });
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
  m_.reject_counter(static_cast<uint8_t>(Reject::overloaded)).inc();
  // BEP 15's event numbers are store::Event's; result 2 = rate_limited (announce.cpp).
  m_.announce_ctr[static_cast<int>(Protocol::udp)][pk.announce.event][2]->inc();
  out = udp::build_error(pk.transaction_id, "tracker busy: retry in " + std::to_string(retry) + " s");
  return true;
}

void UdpServer::process(std::string_view datagram, const udp_t::endpoint& from,
                        std::function<void(std::string&&)> reply) const {
  auto pk = udp::parse(datagram);
  auto t0 = std::chrono::steady_clock::now();
  auto drop = [&](TrackerMetrics::DropReason reason) { m_.dropped[reason]->inc(); };
  switch (pk.error) {
    case udp::ParseError::ok: break;
    case udp::ParseError::truncated:
      if (datagram.size() < 16) return drop(TrackerMetrics::kTruncated);
      m_.reject_counter(static_cast<uint8_t>(Reject::bad_request)).inc();
      return reply(udp::build_error(pk.transaction_id, "truncated request"));
    case udp::ParseError::bad_protocol_id: return drop(TrackerMetrics::kGarbage);
    case udp::ParseError::unknown_action: return drop(TrackerMetrics::kUnknownAction);
    case udp::ParseError::bad_options:
      m_.reject_counter(static_cast<uint8_t>(Reject::bad_request)).inc();
      return reply(udp::build_error(pk.transaction_id, "malformed BEP 41 options"));
    case udp::ParseError::too_many_hashes:
      m_.reject_counter(static_cast<uint8_t>(Reject::bad_request)).inc();
      return reply(udp::build_error(pk.transaction_id, "too many info hashes in scrape"));
  }
  const auto source = from.address();
  if (pk.action == udp::Action::connect) {
    m_.udp_connects.inc();
    auto r = udp::build_connect(pk.transaction_id, ids_.issue(source));
    m_.latency[1][2]->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return reply(std::move(r));
  }
  uint64_t cid = pk.action == udp::Action::announce ? pk.announce.connection_id : pk.scrape.connection_id;
  if (!ids_.valid(cid, source)) {
    m_.reject_counter(static_cast<uint8_t>(Reject::bad_connection_id)).inc();
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
  const auto& a = pk.announce;
  AnnounceRequest req;
  req.protocol = Protocol::udp;
  req.source = source;
  req.info_hash = a.info_hash;
  req.peer_id = a.peer_id;
  req.port = a.port;
  req.uploaded = a.uploaded;
  req.downloaded = a.downloaded;
  req.left = a.left;
  req.numwant = a.num_want < 0 ? -1 : a.num_want;
  if (a.event > 3) {
    m_.reject_counter(static_cast<uint8_t>(Reject::bad_request)).inc();
    return reply(udp::build_error(tid, "unknown event"));
  }
  static constexpr store::Event kEvents[] = {store::Event::none, store::Event::completed, store::Event::started,
                                             store::Event::stopped};
  req.event = kEvents[a.event];
  if (a.ip != 0) {
    boost::asio::ip::address_v4 v4(a.ip);
    req.ip_param = v4.to_string();
  }
  if (req.port == 0 && req.event != store::Event::stopped) {
    m_.reject_counter(static_cast<uint8_t>(Reject::bad_request)).inc();
    return reply(udp::build_error(tid, "port must not be 0"));
  }
  // BEP 41 URL data: "/announce/<token>?lan=…&localip=…&nat=…"
  std::string_view url = a.url_data;
  std::string_view path = url.substr(0, url.find('?'));
  std::string_view query = url.size() > path.size() ? url.substr(path.size() + 1) : std::string_view{};
  if (!path.empty() && !token_from_path(path, "announce", req.token)) {
    m_.reject_counter(static_cast<uint8_t>(Reject::malformed_token)).inc();
    return reply(udp::build_error(tid, "announce URL path must be /announce/<device-token>"));
  }
  if (!query.empty()) {
    AnnounceRequest extra;
    std::string q(query);
    // Only the otaswarm extension parameters are taken from the URL; the packet has the rest,
    // so "missing info_hash"-style errors from this parse do not apply.
    parse_announce_query(q, extra);
    req.localip = extra.localip;
    req.lan = extra.lan;
    req.icode = extra.icode;
    req.nat = extra.nat;
    if (!req.localip && extra.ip_param) req.localip = extra.ip_param;
  }
  bool v6 = net::unmap(source).is_v6();
  handler_.announce(req, [tid, v6, reply = std::move(reply)](AnnounceResponse&& res) {
    if (!res.failure.empty()) return reply(udp::build_error(tid, res.failure));
    // Peers go straight from the selection into the datagram: no intermediate list.
    const size_t addr_len = v6 ? 16 : 4;
    std::string out;
    out.reserve(20 + (addr_len + 2) * res.peers.size());
    udp::build_announce_header(out, tid, res.interval, res.incomplete, res.complete);
    for (const auto& p : res.peers) {
      if (p.ip.v6 != v6) continue;
      out.append(reinterpret_cast<const char*>(p.ip.b.data()), addr_len);
      out.push_back(static_cast<char>(p.port >> 8));
      out.push_back(static_cast<char>(p.port & 0xff));
    }
    reply(std::move(out));
  });
}

}  // namespace otaswarm

#include "agent/nat_session.h"

#include <algorithm>

#include "agent/announce_rewrite.h"
#include "common/http/client.h"
#include "common/http/url.h"
#include "common/json.h"
#include "common/log.h"
#include "common/proto/stun.h"

namespace otaswarm::agent {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

namespace {
constexpr auto kMaxTimerWait = std::chrono::milliseconds(1000);
constexpr auto kAnnounceMemory = std::chrono::seconds(60);  // an announce's reply arrives within this
constexpr size_t kMaxAnnouncesRemembered = 256;

std::string text(const udp::endpoint& e) { return net::format(e); }
udp::endpoint to_udp(const net::HostPort& hp) { return udp::endpoint(net::unmap(hp.address), hp.port); }

// The local address the kernel uses towards `server`, with the public socket's port.
net::HostPort primary_local(asio::io_context& io, const udp::endpoint& server, uint16_t port) {
  udp::socket s(io);
  boost::system::error_code ec;
  s.open(server.protocol(), ec);
  if (!ec) s.connect(server, ec);
  auto addr = ec ? asio::ip::address(asio::ip::address_v4::any()) : s.local_endpoint().address();
  return {addr, port};
}

// One dialer strictly (LIBTORRENT.md): the side with the lower reflexive endpoint dials, the
// other punches. Both sides know both endpoints, so they agree whoever asked the rendezvous.
bool lower(const udp::endpoint& a, const udp::endpoint& b) {
  if (a.address() != b.address()) return a.address() < b.address();
  return a.port() < b.port();
}

std::string punch_packet() {
  stun::Builder b(stun::method::binding, stun::Class::indication, stun::random_transaction_id());
  b.add_fingerprint();
  return b.bytes();
}
}  // namespace

NatSession::NatSession(NatSessionOptions options)
    : options_(std::move(options)), filtering_(io_), timer_(io_) {
  RelayHooks hooks;
  hooks.on_stun = [this](const udp::endpoint& from, std::string_view b) { on_stun(from, b); };
  hooks.on_outbound = [this](const udp::endpoint& to, std::string& b) { return on_outbound(to, b); };
  hooks.on_inbound = [this](const udp::endpoint& from, std::string& b) { on_inbound(from, b); };
  proxy_ = std::make_unique<Socks5UdpProxy>(io_, options_.listen, std::move(hooks));
  server_ = to_udp(options_.rendezvous.server);
  filtering_.open(options_.listen.protocol());
  filtering_.bind(udp::endpoint(options_.listen.address(), 0));
  filter_buf_.resize(kMaxDatagram);
  client_ = std::make_unique<RendezvousClient>(options_.rendezvous,
                                               primary_local(io_, server_, proxy_->public_local().port()));
}

NatSession::~NatSession() { stop(); }

void NatSession::start() {
  proxy_->start();
  client_->start(RdvClock::now());
  read_filter();
  asio::post(io_, [this] { drive(); });
  thread_ = std::thread([this] { io_.run(); });
  if (!options_.rendezvous_api.empty()) creds_thread_ = std::thread([this] { fetch_credentials(); });
}

// coturn REST credentials and the TURN URI from the device API (common/http/client, blocking:
// on a thread of its own). Only a relay decision uses them.
void NatSession::fetch_credentials() {
  Credentials c;
  try {
    auto url = http::parse_url(options_.rendezvous_api);
    if (!url) throw std::runtime_error("bad --rendezvous-api URL");
    url->target = "/v1/turn-credentials";
    http::ClientOptions co;
    co.timeout = std::chrono::seconds(5);
    auto r = http::request(http::bhttp::verb::post, *url, {{"Authorization", "Bearer " + options_.rendezvous.token}}, "", co);
    if (r.status != 200) throw std::runtime_error("HTTP " + std::to_string(r.status));
    auto j = Json::parse(r.body);
    c.username = j.at("username").get<std::string>();
    c.password = j.at("password").get<std::string>();
    for (const auto& u : j.value("uris", Json::array())) {
      // turn:HOST:PORT?transport=udp
      std::string t = u.get<std::string>();
      if (t.rfind("turn:", 0) != 0) continue;
      t = t.substr(5, t.find('?') == std::string::npos ? std::string::npos : t.find('?') - 5);
      if (auto hp = net::parse_host_port(t)) {
        c.server = hp;
        break;
      }
    }
    if (!c.server) c.error = "no turn: URI with IP:PORT in the credentials";
  } catch (const std::exception& e) {
    c.error = std::string("TURN credentials: ") + e.what();
  }
  if (!c.error.empty()) log::warn("relay unavailable", {{"error", c.error}});
  std::lock_guard lock(mu_);
  creds_ = std::move(c);
}

void NatSession::read_filter() {
  filtering_.async_receive_from(asio::buffer(filter_buf_), filter_from_, [this](boost::system::error_code ec, size_t n) {
    if (ec == asio::error::operation_aborted || !filtering_.is_open()) return;
    if (!ec) {
      client_->on_datagram(ProbeSocket::filtering, {filter_from_.address(), filter_from_.port()},
                           std::string_view(filter_buf_.data(), n), RdvClock::now());
      drive();
    }
    read_filter();
  });
}

void NatSession::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    boost::system::error_code ec;
    timer_.cancel();
    filtering_.close(ec);
    proxy_->close();
    io_.stop();
  });
  thread_.join();
  if (creds_thread_.joinable()) creds_thread_.join();
}

uint16_t NatSession::proxy_port() const { return proxy_->control_port(); }
udp::endpoint NatSession::public_local() const { return proxy_->public_local(); }

std::vector<Dial> NatSession::take_dials() {
  std::lock_guard lock(mu_);
  std::vector<Dial> out;
  out.swap(dials_);
  return out;
}

bool NatSession::punched(const asio::ip::address& a, uint16_t port) const {
  std::lock_guard lock(mu_);
  return punched_.count(udp::endpoint(net::unmap(a), port)) > 0;
}

std::optional<Path> NatSession::path_of(const asio::ip::address& a, uint16_t port) const {
  udp::endpoint e(net::unmap(a), port);
  std::lock_guard lock(mu_);
  if (relayed_.count(e)) return Path::relayed;
  if (punched_.count(e)) return Path::punched;
  return std::nullopt;
}

NatSessionStatus NatSession::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

bool NatSession::probe_done(ProbeResult& out) const {
  std::lock_guard lock(mu_);
  if (!probe_) return false;
  out = *probe_;
  return true;
}

bool NatSession::ours(const asio::ip::address& a) const {
  auto addr = net::unmap(a);
  if (addr.is_loopback() || addr.is_unspecified()) return true;
  for (const auto& c : options_.local_networks)
    if (c.contains(addr)) return true;
  return false;
}

void NatSession::on_stun(const udp::endpoint& from, std::string_view bytes) {
  if (turn_ && from == turn_server_) {
    if (auto d = turn_->on_datagram(bytes, RdvClock::now())) {
      udp::endpoint peer = to_udp(d->peer);
      if (relay_peers_.insert(peer).second) {
        log::info("relay: peer reached through the TURN allocation", {{"peer", text(peer)}});
        std::lock_guard lock(mu_);
        relayed_.insert(peer);
      }
      proxy_->to_libtorrent(peer, d->payload);
      std::lock_guard lock(mu_);
      ++status_.relay_datagrams_in;
      return;
    }
    drive();
    return;
  }
  auto parsed = stun::parse(bytes);
  if (parsed.ok() && parsed.message.method() == stun::method::binding && parsed.message.cls() == stun::Class::indication) {
    std::lock_guard lock(mu_);
    ++status_.punch_packets_received;  // a peer's punch packet: it opened its NAT for us
    return;
  }
  client_->on_datagram(ProbeSocket::primary, {from.address(), from.port()}, bytes, RdvClock::now());
  drive();
}

bool NatSession::on_outbound(const udp::endpoint& to, std::string& bytes) {
  if (turn_ && relay_peers_.count(to)) {
    // A peer that reached us through our allocation: the reply goes back the same way.
    proxy_->send_public(turn_server_, turn_->send_indication({to.address(), to.port()}, bytes));
    std::lock_guard lock(mu_);
    ++status_.relay_datagrams_out;
    return true;
  }
  // libtorrent behind a proxy announces port 1: the tracker must hand out our public port.
  const auto& refl = client_->reflexive();
  auto tid = rewrite_announce(bytes, refl ? refl->port : proxy_->public_local().port(), client_->nat_ticket());
  if (!tid) return false;
  auto now = RdvClock::now();
  if (announces_.size() >= kMaxAnnouncesRemembered) {
    for (auto it = announces_.begin(); it != announces_.end();)
      it = now - it->second > kAnnounceMemory ? announces_.erase(it) : std::next(it);
    if (announces_.size() >= kMaxAnnouncesRemembered) announces_.clear();
  }
  announces_[{to, *tid}] = now;
  std::lock_guard lock(mu_);
  ++status_.announces_rewritten;
  return false;
}

void NatSession::on_inbound(const udp::endpoint& from, std::string& bytes) {
  if (announces_.empty() || from.address().is_v6()) return;
  auto r = read_announce_reply(bytes);
  if (!r) return;
  auto it = announces_.find({from, r->transaction_id});
  if (it == announces_.end()) return;
  announces_.erase(it);
  // The tracker's compact list says nothing about reachability: every peer not on one of our
  // own networks goes to the rendezvous (once), and leaves the list libtorrent sees.
  auto self = client_->reflexive();
  std::vector<otaswarm::udp::PeerV4> keep;
  size_t asked = 0;
  for (const auto& entry : r->peers) {
    udp::endpoint peer(asio::ip::address_v4(entry.ip), entry.port);
    if (ours(peer.address())) {
      keep.push_back(entry);
      continue;
    }
    if ((self && peer == to_udp(*self)) || asked_.count(peer)) continue;
    if (asked_.size() >= kMaxPunchTargets) {
      keep.push_back(entry);
      continue;
    }
    asked_.insert(peer);
    ++asked;
    log::debug("rendezvous: asking for a path", {{"peer", text(peer)}});
    client_->connect({peer.address(), peer.port()});
  }
  r->peers = std::move(keep);
  bytes = build_announce_reply(*r);
  if (asked) asio::post(io_, [this] { drive(); });
}

void NatSession::on_order(const PunchOrder& o) {
  udp::endpoint peer = to_udp(o.reflexive);
  auto now = RdvClock::now();
  if (o.action == rdv::Action::relay) {
    auto self = client_->reflexive();
    return on_relay_order(o, self && lower(to_udp(*self), peer));
  }
  auto last = last_order_.find(peer);
  if (last != last_order_.end() && now - last->second < kRepunchAfter) return;  // both sides asked: one session
  if (last_order_.size() >= kMaxPunchTargets) last_order_.clear();
  last_order_[peer] = now;
  auto self = client_->reflexive();
  bool dial = false, punch = false;
  switch (o.action) {
    case rdv::Action::connect: dial = true; break;
    case rdv::Action::accept: break;  // we are reachable: the peer dials
    case rdv::Action::punch:
      dial = self && lower(to_udp(*self), peer);
      punch = !dial;
      break;
    case rdv::Action::relay:
      return;
  }
  log::info("nat: path to peer", {{"peer", text(peer)}, {"device", o.device_id},
                                   {"decision", nat::to_string(o.decision)},
                                   {"role", dial ? "dial" : punch ? "punch" : "accept"}});
  std::lock_guard lock(mu_);
  if (o.action == rdv::Action::punch && punched_.size() < kMaxPunchTargets) punched_.insert(peer);
  status_.punch_targets = punched_.size();
  if (dial) dials_.push_back(Dial{tcp::endpoint(peer.address(), peer.port()), o.start});
  if (punch) punches_.push_back(Punch{peer, o.start - kPunchLead, o.start + kPunchDuration, o.start - kPunchLead});
}

// One side allocates (the lower reflexive endpoint, as for punching) and hands its relayed
// address to the peer through a second RDV-CONNECT; the other dials that address, so one
// connection crosses the relay and libtorrent on the allocating side only accepts.
void NatSession::on_relay_order(const PunchOrder& o, bool allocate) {
  udp::endpoint peer = to_udp(o.reflexive);
  if (!allocate) {
    if (!o.relayed) return;  // the allocating side tells us its relayed address next
    udp::endpoint relayed = to_udp(*o.relayed);
    if (!relay_dialled_.insert(relayed).second) return;
    log::info("nat: path to peer", {{"peer", text(peer)}, {"device", o.device_id}, {"decision", "relay"},
                                     {"role", "dial"}, {"relayed", text(relayed)}});
    std::lock_guard lock(mu_);
    relayed_.insert(relayed);
    dials_.push_back(Dial{tcp::endpoint(relayed.address(), relayed.port()), RdvClock::now()});
    return;
  }
  if (relay_wanted_.count(peer) || relay_asked_.count(peer)) return;
  log::info("nat: path to peer", {{"peer", text(peer)}, {"device", o.device_id}, {"decision", "relay"},
                                   {"role", "allocate"}});
  if (!turn_) {
    std::optional<Credentials> c;
    {
      std::lock_guard lock(mu_);
      c = creds_;
    }
    if (!c || !c->server) {
      std::string why = !c ? "no TURN credentials yet (--rendezvous-api)" : c->error;
      log::warn("relay unavailable", {{"peer", text(peer)}, {"error", why}});
      std::lock_guard lock(mu_);
      status_.turn = why;
      return;
    }
    TurnOptions to{*c->server, c->username, c->password};
    if (!o.turn_username.empty()) {
      to.username = o.turn_username;
      to.password = o.turn_password;
    }
    turn_ = std::make_unique<TurnClient>(to);
    turn_server_ = to_udp(*c->server);
    turn_->start(RdvClock::now());
  }
  turn_->permit(o.reflexive.address);
  relay_wanted_.insert(peer);
}

void NatSession::drive() {
  auto now = RdvClock::now();
  while (auto d = client_->poll(now)) {
    if (d->socket == ProbeSocket::primary) {
      proxy_->send_public(to_udp(d->to), d->bytes);
    } else {
      boost::system::error_code ec;
      filtering_.send_to(asio::buffer(d->bytes), to_udp(d->to), 0, ec);
    }
  }
  if (!probe_logged_ && !client_->probing() && client_->probe_result()) {
    probe_logged_ = true;
    const auto& r = *client_->probe_result();
    log::info("nat probe", {{"mapping", nat::to_string(r.nat.mapping)},
                            {"filtering", nat::to_string(r.nat.filtering)},
                            {"hairpinning", r.hairpinning ? (*r.hairpinning ? "true" : "false") : "null"},
                            {"reflexive", r.reflexive ? net::format(r.reflexive->address, r.reflexive->port) : ""},
                            {"error", r.error}});
    std::lock_guard lock(mu_);
    probe_ = r;
  }
  while (auto o = client_->next_order()) on_order(*o);
  if (turn_) {
    while (auto d = turn_->poll(now)) proxy_->send_public(turn_server_, *d);
    if (turn_->relayed() && !relay_wanted_.empty()) {
      for (const auto& p : relay_wanted_) {
        log::info("relay: allocation ready, telling the peer", {{"peer", text(p)}, {"relayed", net::format(turn_->relayed()->address, turn_->relayed()->port)}});
        client_->connect({p.address(), p.port()}, *turn_->relayed());
        relay_asked_.insert(p);
      }
      relay_wanted_.clear();
      while (auto d = client_->poll(now)) proxy_->send_public(to_udp(d->to), d->bytes);
      std::lock_guard lock(mu_);
      status_.turn = net::format(turn_->relayed()->address, turn_->relayed()->port);
    }
    if (turn_->failed() && !relay_wanted_.empty()) {
      log::warn("relay unavailable", {{"error", turn_->error()}});
      relay_wanted_.clear();
      std::lock_guard lock(mu_);
      status_.turn = turn_->error();
    }
  }
  while (auto f = client_->next_failed()) {
    // No path from the rendezvous (e.g. a peer without an agent): libtorrent dials it directly.
    std::lock_guard lock(mu_);
    dials_.push_back(Dial{tcp::endpoint(net::unmap(f->address), f->port), now});
  }
  auto wake = std::min(client_->wakeup(), now + kMaxTimerWait);
  if (turn_) wake = std::min(wake, std::max(turn_->wakeup(), now));
  std::string packet;
  uint64_t sent = 0;
  for (auto it = punches_.begin(); it != punches_.end();) {
    if (now >= it->until) {
      it = punches_.erase(it);
      continue;
    }
    if (now >= it->next) {
      if (packet.empty()) packet = punch_packet();
      proxy_->send_public(it->to, packet);
      ++sent;
      it->next = now + kPunchInterval;
    }
    wake = std::min(wake, it->next);
    ++it;
  }
  {
    std::lock_guard lock(mu_);
    status_.punch_packets_sent += sent;
    status_.registered = client_->registered();
    status_.nat_ticket = client_->nat_ticket();
    status_.rendezvous = client_->stats();
    status_.relay = proxy_->stats();
  }
  arm(wake);
}

void NatSession::arm(RdvClock::time_point when) {
  timer_.expires_at(std::max(when, RdvClock::now()));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    drive();
  });
}

}  // namespace otaswarm::agent

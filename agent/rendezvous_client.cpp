#include "agent/rendezvous_client.h"

#include <algorithm>

#include "common/log.h"

namespace otaswarm::agent {

namespace {
std::string text(const net::HostPort& hp) { return net::format(hp.address, hp.port); }

template <class D>
RdvClock::duration dur(D d) {
  return std::chrono::duration_cast<RdvClock::duration>(d);
}
}  // namespace

RendezvousClient::RendezvousClient(RendezvousOptions options, net::HostPort primary_local)
    : options_(std::move(options)), primary_local_(std::move(primary_local)) {
  options_.refresh = std::max(options_.refresh, std::chrono::milliseconds(1));
  backoff_ = dur(options_.backoff_initial);
}

void RendezvousClient::start(RdvClock::time_point now) {
  if (phase_ != Phase::idle) return;
  if (options_.probe) {
    ProbeOptions po;
    po.server = options_.server;
    po.timeout = options_.probe_timeout;
    probe_.emplace(po, primary_local_);
    probe_->start(now);
    phase_ = Phase::probing;
    return;
  }
  phase_ = Phase::registering;
  next_register_ = now;
}

RendezvousClient::Transaction RendezvousClient::make(std::string request, const stun::TransactionId& tid,
                                                     RdvClock::time_point now) const {
  Transaction t;
  t.tid = tid;
  t.request = std::move(request);
  t.deadline = now + dur(options_.request_timeout);
  t.next_send = now;
  t.rto = dur(options_.request_timeout) / (1 << std::max(options_.retransmits, 0));
  return t;
}

void RendezvousClient::send_register(RdvClock::time_point now) {
  auto tid = stun::random_transaction_id();
  rdv::RegisterRequest req{options_.token, options_.info_hash, options_.lan, std::nullopt};
  if (class_.mapping != nat::Mapping::unknown || class_.public_address) req.nat_class = class_;
  register_tx_ = make(rdv::build_register(req, tid), tid, now);
}

void RendezvousClient::fail(std::string why) {
  if (why != last_error_) log::warn("rendezvous: " + why, {{"server", text(options_.server)}});
  last_error_ = std::move(why);
}

void RendezvousClient::register_failed(std::string why, RdvClock::time_point now) {
  register_tx_.reset();
  fail(std::move(why));
  next_register_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, dur(options_.backoff_max));
}

std::optional<ProbeDatagram> RendezvousClient::poll(RdvClock::time_point now) {
  if (phase_ == Phase::probing) {
    if (auto d = probe_->poll(now)) return d;
    if (!probe_->done()) return std::nullopt;
    const auto& r = probe_->result();
    class_ = r.nat;
    if (r.reflexive) reflexive_ = r.reflexive;
    probe_result_ = r;
    phase_ = Phase::registering;
    next_register_ = now;
  }
  if (phase_ == Phase::idle) return std::nullopt;
  if (register_tx_ && now >= register_tx_->deadline) {
    ++stats_.timeouts;
    register_failed("no answer to RDV-REGISTER", now);
  }
  if (!register_tx_ && now >= next_register_) send_register(now);
  if (register_tx_) {
    if (now >= register_tx_->next_send) {
      register_tx_->next_send = now + register_tx_->rto;
      register_tx_->rto *= 2;
      return ProbeDatagram{ProbeSocket::primary, options_.server, register_tx_->request};
    }
  }
  if (!registered_) return std::nullopt;
  while (!wanted_.empty() && connects_.size() < kMaxPendingConnects) {
    auto tid = stun::random_transaction_id();
    rdv::ConnectRequest req{options_.token, options_.info_hash, "", wanted_.front().first, wanted_.front().second};
    auto t = make(rdv::build_connect(req, tid), tid, now);
    t.peer = wanted_.front().first;
    wanted_.erase(wanted_.begin());
    connects_.push_back(std::move(t));
  }
  for (auto it = connects_.begin(); it != connects_.end();) {
    if (now >= it->deadline) {
      ++stats_.timeouts;
      ++stats_.connect_failures;
      fail("no answer to RDV-CONNECT for " + text(it->peer));
      if (failed_.size() < kMaxQueuedOrders) failed_.push_back(it->peer);
      it = connects_.erase(it);
      continue;
    }
    if (now >= it->next_send) {
      it->next_send = now + it->rto;
      it->rto *= 2;
      return ProbeDatagram{ProbeSocket::primary, options_.server, it->request};
    }
    ++it;
  }
  return std::nullopt;
}

RdvClock::time_point RendezvousClient::wakeup() const {
  if (phase_ == Phase::probing) return probe_->wakeup();
  auto w = RdvClock::time_point::max();
  if (phase_ == Phase::idle) return w;
  if (register_tx_) w = std::min({w, register_tx_->next_send, register_tx_->deadline});
  else w = std::min(w, next_register_);
  for (const auto& c : connects_) w = std::min({w, c.next_send, c.deadline});
  if (registered_ && !wanted_.empty()) w = RdvClock::time_point::min();
  return w;
}

void RendezvousClient::connect(const net::HostPort& peer, std::optional<net::HostPort> relayed) {
  if (wanted_.size() + connects_.size() >= kMaxPendingConnects * 4) return;
  wanted_.emplace_back(peer, relayed);
}

std::optional<net::HostPort> RendezvousClient::next_failed() {
  if (failed_.empty()) return std::nullopt;
  auto p = failed_.front();
  failed_.pop_front();
  return p;
}

std::optional<PunchOrder> RendezvousClient::next_order() {
  if (orders_.empty()) return std::nullopt;
  PunchOrder o = std::move(orders_.front());
  orders_.pop_front();
  return o;
}

void RendezvousClient::on_datagram(ProbeSocket socket, const net::HostPort& from, std::string_view bytes,
                                   RdvClock::time_point now) {
  if (phase_ == Phase::probing) {
    probe_->on_datagram(socket, bytes, now);
    return;
  }
  auto parsed = stun::parse(bytes);
  if (!parsed.ok()) {
    ++stats_.garbage;
    fail(std::string("unreadable STUN datagram: ") + stun::to_string(parsed.error));
    return;
  }
  const auto& m = parsed.message;
  if (m.method() == stun::method::rdv_punch && m.cls() == stun::Class::indication) {
    auto r = rdv::read_punch(m);
    if (!r.ok() || (!r.value.info_hash.empty() && r.value.info_hash != options_.info_hash)) {
      ++stats_.garbage;
      fail(std::string("unusable RDV-PUNCH: ") + (r.ok() ? "other release" : rdv::to_string(r.error)));
      return;
    }
    ++stats_.punches;
    push_order(r.value, true, now);
    return;
  }
  (void)from;
  if (register_tx_ && m.transaction_id == register_tx_->tid) return on_register_reply(m, now);
  for (size_t i = 0; i < connects_.size(); ++i)
    if (connects_[i].tid == m.transaction_id) return on_connect_reply(i, m, now);
  // Late retransmission replies and stray Binding answers land here; not an error.
}

void RendezvousClient::on_register_reply(const stun::Message& m, RdvClock::time_point now) {
  auto r = rdv::read_registered(m, register_tx_->tid);
  if (r.error == rdv::ReadError::error_response) {
    ++stats_.refusals;
    return register_failed("RDV-REGISTER refused: " + std::to_string(r.refusal.code) + " " + r.refusal.reason, now);
  }
  if (!r.ok()) {
    ++stats_.garbage;
    return register_failed(std::string("bad RDV-REGISTER reply: ") + rdv::to_string(r.error), now);
  }
  register_tx_.reset();
  ++stats_.registrations;
  if (!registered_) log::info("rendezvous: registered", {{"reflexive", text(r.value.reflexive)}});
  registered_ = true;
  reflexive_ = r.value.reflexive;
  if (!r.value.nat_ticket.empty()) ticket_ = r.value.nat_ticket;
  backoff_ = dur(options_.backoff_initial);
  last_error_.clear();
  // Refresh well within the lifetime the rendezvous grants, and within the 25 s NAT budget.
  auto refresh = dur(options_.refresh);
  if (r.value.lifetime_s > 0) refresh = std::min(refresh, dur(std::chrono::seconds(r.value.lifetime_s)) / 2);
  next_register_ = now + refresh;
}

void RendezvousClient::on_connect_reply(size_t i, const stun::Message& m, RdvClock::time_point now) {
  auto r = rdv::read_connected(m, connects_[i].tid);
  std::string peer = text(connects_[i].peer);
  if (r.error == rdv::ReadError::error_response) {
    ++stats_.refusals;
    ++stats_.connect_failures;
    fail("RDV-CONNECT " + peer + " refused: " + std::to_string(r.refusal.code) + " " + r.refusal.reason);
  } else if (!r.ok()) {
    ++stats_.garbage;
    ++stats_.connect_failures;
    fail("bad RDV-CONNECT reply for " + peer + ": " + rdv::to_string(r.error));
  } else {
    ++stats_.connects;
    push_order(r.value, false, now);
  }
  if (!r.ok() && failed_.size() < kMaxQueuedOrders) failed_.push_back(connects_[i].peer);
  connects_.erase(connects_.begin() + static_cast<std::ptrdiff_t>(i));
}

void RendezvousClient::push_order(const rdv::PeerInfo& p, bool indication, RdvClock::time_point now) {
  if (orders_.size() >= kMaxQueuedOrders) orders_.pop_front();
  PunchOrder o;
  o.device_id = p.device_id;
  o.decision = p.decision;
  o.action = p.action;
  o.reflexive = p.reflexive;
  o.lan = p.lan;
  o.nat_class = p.nat_class;
  o.start = now + dur(std::chrono::milliseconds(p.start_delay_ms));
  o.from_indication = indication;
  o.turn_username = p.turn_username;
  o.turn_password = p.turn_password;
  o.relayed = p.relayed;
  log::info("rendezvous: peer path", {{"peer", p.device_id},
                                      {"endpoint", text(p.reflexive)},
                                      {"decision", nat::to_string(p.decision)},
                                      {"action", rdv::to_string(p.action)},
                                      {"via", indication ? "punch" : "connect"}});
  orders_.push_back(std::move(o));
}

}  // namespace otaswarm::agent

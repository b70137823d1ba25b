#include "agent/turn_client.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/log.h"

namespace otaswarm::agent {

namespace {
constexpr auto kRefreshMargin = std::chrono::seconds(60);
constexpr int kMaxAuthAttempts = 2;
}  // namespace

TurnClient::TurnClient(TurnOptions options) : options_(std::move(options)) {}

void TurnClient::start(TurnClock::time_point now) {
  if (started_) return;
  started_ = true;
  queue(stun::method::allocate, now);
}

std::string TurnClient::build(uint16_t method, const stun::TransactionId& tid, const net::Address& peer) const {
  stun::Builder b(method, stun::Class::request, tid);
  if (method == stun::method::allocate)
    b.add(stun::attr::requested_transport, std::string{static_cast<char>(kTransportUdp), 0, 0, 0});
  if (method == stun::method::refresh) b.add_u32(stun::attr::lifetime, kDefaultAllocationLifetime);
  if (method == stun::method::create_permission) b.add_xor_address(stun::attr::xor_peer_address, peer, 0);
  if (!nonce_.empty()) {
    b.add(stun::attr::username, options_.username).add(stun::attr::realm, realm_).add(stun::attr::nonce, nonce_);
    b.add_message_integrity(key_);
  }
  b.add_fingerprint();
  return b.bytes();
}

void TurnClient::queue(uint16_t method, TurnClock::time_point now, const net::Address& peer, int attempts) {
  if (tx_) {
    pending_.emplace_back(method, peer);
    return;
  }
  Tx t;
  t.method = method;
  t.tid = stun::random_transaction_id();
  t.peer = peer;
  t.attempts = attempts;
  t.bytes = build(method, t.tid, peer);
  t.deadline = now + kTurnRequestTimeout;
  t.next = now;
  t.rto = std::chrono::duration_cast<TurnClock::duration>(kTurnRequestTimeout) / (1 << kTurnRetransmits);
  tx_ = std::move(t);
}

std::optional<std::string> TurnClient::poll(TurnClock::time_point now) {
  if (failed() || !started_) return std::nullopt;
  if (tx_ && now >= tx_->deadline) {
    error_ = "TURN server " + net::format(options_.server.address, options_.server.port) + " did not answer";
    tx_.reset();
    return std::nullopt;
  }
  if (!tx_ && !pending_.empty()) {
    auto [m, p] = pending_.front();
    pending_.pop_front();
    queue(m, now, p);
  }
  if (!tx_ && relayed_ && now >= refresh_at_) {
    refresh_at_ = TurnClock::time_point::max();
    queue(stun::method::refresh, now);
  }
  if (!tx_ && relayed_ && now >= permissions_at_) {
    permissions_at_ = now + kPermissionRefresh;
    for (const auto& a : permitted_) pending_.emplace_back(stun::method::create_permission, a);
    if (!pending_.empty()) {
      auto [m, p] = pending_.front();
      pending_.pop_front();
      queue(m, now, p);
    }
  }
  if (!tx_ || now < tx_->next) return std::nullopt;
  tx_->next = now + tx_->rto;
  tx_->rto *= 2;
  return tx_->bytes;
}

TurnClock::time_point TurnClient::wakeup() const {
  if (failed() || !started_) return TurnClock::time_point::max();
  auto w = std::min(refresh_at_, permissions_at_);
  if (tx_) w = std::min({w, tx_->next, tx_->deadline});
  if (!tx_ && !pending_.empty()) w = TurnClock::time_point::min();
  return w;
}

void TurnClient::permit(const net::Address& peer) {
  auto a = net::unmap(peer);
  if (!permitted_.insert(a).second) return;
  pending_.emplace_back(stun::method::create_permission, a);
}

std::string TurnClient::send_indication(const net::HostPort& peer, std::string_view payload) const {
  stun::Builder b(stun::method::send, stun::Class::indication, stun::random_transaction_id());
  b.add_xor_address(stun::attr::xor_peer_address, peer.address, peer.port).add(stun::attr::data, payload);
  return b.bytes();
}

std::optional<TurnClient::Data> TurnClient::on_datagram(std::string_view bytes, TurnClock::time_point now) {
  auto parsed = stun::parse(bytes);
  if (!parsed.ok()) return std::nullopt;
  const auto& m = parsed.message;
  if (m.method() == stun::method::data && m.cls() == stun::Class::indication) {
    const auto* pa = m.find(stun::attr::xor_peer_address);
    const auto* d = m.find(stun::attr::data);
    if (!pa || !d) return std::nullopt;
    auto peer = stun::decode_xor_address(pa->value, m.transaction_id);
    if (!peer) return std::nullopt;
    return Data{*peer, std::string(d->value)};
  }
  if (!tx_ || m.transaction_id != tx_->tid) return std::nullopt;
  Tx t = std::move(*tx_);
  tx_.reset();
  if (m.cls() == stun::Class::error) {
    const auto* e = m.find(stun::attr::error_code);
    auto code = e ? stun::decode_error_code(e->value) : std::nullopt;
    int c = code ? code->code : 0;
    const auto* n = m.find(stun::attr::nonce);
    if ((c == stun::error::unauthorized || c == stun::error::stale_nonce) && n && t.attempts < kMaxAuthAttempts) {
      nonce_ = std::string(n->value);
      if (const auto* r = m.find(stun::attr::realm)) realm_ = std::string(r->value);
      key_ = std::string(crypto::as_view(crypto::md5(options_.username + ":" + realm_ + ":" + options_.password)));
      queue(t.method, now, t.peer, t.attempts + 1);
      return std::nullopt;
    }
    if (t.method == stun::method::allocate || t.method == stun::method::refresh) {
      error_ = "TURN " + std::string(t.method == stun::method::allocate ? "Allocate" : "Refresh") + " refused: " +
               std::to_string(c) + (code ? " " + code->reason : std::string());
    } else {
      log::warn("TURN CreatePermission refused", {{"code", std::to_string(c)}});
    }
    return std::nullopt;
  }
  if (m.cls() != stun::Class::success) return std::nullopt;
  if (t.method == stun::method::allocate) {
    const auto* ra = m.find(stun::attr::xor_relayed_address);
    auto relayed = ra ? stun::decode_xor_address(ra->value, m.transaction_id) : std::nullopt;
    if (!relayed) {
      error_ = "TURN Allocate success without XOR-RELAYED-ADDRESS";
      return std::nullopt;
    }
    relayed_ = relayed;
    uint32_t life = kDefaultAllocationLifetime;
    if (const auto* l = m.find(stun::attr::lifetime))
      if (auto v = stun::decode_u32(l->value)) life = *v;
    auto lifetime = std::chrono::seconds(life);
    refresh_at_ = now + (lifetime > 2 * kRefreshMargin ? lifetime - kRefreshMargin : lifetime / 2);
    permissions_at_ = now + kPermissionRefresh;
  } else if (t.method == stun::method::refresh) {
    refresh_at_ = now + std::chrono::seconds(kDefaultAllocationLifetime) - kRefreshMargin;
  }
  return std::nullopt;
}

}  // namespace otaswarm::agent

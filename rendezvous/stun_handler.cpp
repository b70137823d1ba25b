#include "rendezvous/stun_handler.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/proto/nat.h"
#include "rendezvous/turn.h"

namespace otaswarm::rendezvous {

namespace {
constexpr size_t kInfoHashSize = 20;
constexpr size_t kAttrAddrV4 = stun::kAttrHeaderSize + 8, kAttrAddrV6 = stun::kAttrHeaderSize + 20;
constexpr size_t kAttrFingerprint = stun::kAttrHeaderSize + 4;
constexpr size_t kPaddingAttrOverhead = stun::kAttrHeaderSize;
constexpr int64_t kMsPerSecond = 1000;
constexpr uint16_t kBindingKnown[] = {stun::attr::change_request, stun::attr::response_port, stun::attr::padding};
constexpr uint16_t kRegisterKnown[] = {stun::attr::rdv_token, stun::attr::rdv_info_hash, stun::attr::rdv_lan_address,
                                       stun::attr::rdv_nat_class};
constexpr uint16_t kConnectKnown[] = {stun::attr::rdv_token, stun::attr::rdv_info_hash, stun::attr::rdv_peer_id,
                                      stun::attr::rdv_peer_reflexive, stun::attr::rdv_relayed_address};

size_t addr_attr_size(const net::Address& a) { return net::unmap(a).is_v4() ? kAttrAddrV4 : kAttrAddrV6; }
size_t padded(size_t n) { return (n + 3) / 4 * 4; }

// Registrations expire and punches start on the shared Unix clock (any replica can read them).
int64_t now_ms(const Clock& c) { return c.unix_seconds() * kMsPerSecond; }

const char* decision_label(nat::Decision d) {
  switch (d) {
    case nat::Decision::direct: return "direct";
    case nat::Decision::relay: return "relay";
    default: return "punch";
  }
}
}  // namespace

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::error: return "error";
    case Outcome::dropped: return "dropped";
    case Outcome::rate_limited: return "rate_limited";
    case Outcome::pending: return "pending";
  }
  return "error";
}

Action action_for(nat::Decision d, bool peer_connectable) {
  switch (d) {
    case nat::Decision::direct: return peer_connectable ? Action::connect : Action::accept;
    case nat::Decision::relay: return Action::relay;
    default: return Action::punch;
  }
}

StunHandler::StunHandler(const HandlerConfig& cfg, Shared shared)
    : cfg_(cfg),
      sh_(shared),
      own_address_(shared.per_address ? nullptr
                                       : std::make_unique<RateLimiter>(cfg.per_address, cfg.max_rate_keys, shared.clock)),
      own_device_(shared.per_device ? nullptr
                                     : std::make_unique<RateLimiter>(cfg.per_device, cfg.max_rate_keys, shared.clock)),
      per_address_(shared.per_address ? *shared.per_address : *own_address_),
      per_device_(shared.per_device ? *shared.per_device : *own_device_) {}

Result StunHandler::process(const Inbound& in, Completion later) {
  Result r;
  if (!per_address_.allow(net::address_key(in.remote.address))) {
    // Silent drop: replying to a flood would make us part of it.
    r.outcome = Outcome::rate_limited;
    r.drop_reason = "rate_limited";
    return r;
  }
  auto parsed = stun::parse(in.data);
  if (!parsed.ok()) {
    r.drop_reason = stun::to_string(parsed.error);
    return r;
  }
  const auto& m = parsed.message;
  if (m.cls() != stun::Class::request) {
    r.drop_reason = "not_a_request";
    return r;
  }
  switch (m.method()) {
    case stun::method::binding: return binding(m, in);
    case stun::method::rdv_register: return do_register(m, in);
    case stun::method::rdv_connect: return do_connect(m, in, later);
    default: return error_reply(m, in, stun::error::bad_request, "Unknown method");
  }
}

namespace {
// An error response within the amplification bound of a request of `request_size` bytes.
Result error_result(uint16_t method, const stun::TransactionId& tid, size_t request_size, int local_index,
                    const Endpoint& remote, int code, std::string_view reason, std::span<const uint16_t> unknown) {
  Result r;
  r.outcome = Outcome::error;
  auto budget = static_cast<size_t>(static_cast<double>(request_size) * kMaxAmplification);
  size_t unknown_size = unknown.empty() ? 0 : stun::kAttrHeaderSize + padded(unknown.size() * 2);
  size_t base = stun::kHeaderSize + stun::kAttrHeaderSize + 4 + unknown_size;
  if (base + padded(reason.size()) > budget) reason = {};
  stun::Builder b(method, stun::Class::error, tid);
  b.add_error(code, reason);
  if (!unknown.empty()) b.add_unknown_attributes(unknown);
  if (b.size() + kAttrFingerprint <= budget) b.add_fingerprint();
  r.replies.push_back(Reply{local_index, remote, b.bytes()});
  return r;
}
}  // namespace

Result StunHandler::error_reply(const stun::Message& m, const Inbound& in, int code, std::string_view reason,
                                std::span<const uint16_t> unknown) {
  return error_result(m.method(), m.transaction_id, in.data.size(), in.local_index, in.remote, code, reason, unknown);
}

Result StunHandler::binding(const stun::Message& m, const Inbound& in) {
  auto unknown = m.unknown_required(kBindingKnown);
  if (!unknown.empty()) return error_reply(m, in, stun::error::unknown_attribute, "Unknown Attribute", unknown);
  uint32_t change = 0;
  if (const auto* a = m.find(stun::attr::change_request)) {
    auto v = stun::decode_u32(a->value);
    if (!v) return error_reply(m, in, stun::error::bad_request, "Bad CHANGE-REQUEST");
    change = *v & (stun::kChangeIp | stun::kChangePort);
  }
  Endpoint to = in.remote;
  const auto* rp = m.find(stun::attr::response_port);
  if (in.transport == Transport::tcp && (change != 0 || rp))
    return error_reply(m, in, stun::error::bad_request, "UDP only");
  if (rp) {
    if (rp->value.size() != 4) return error_reply(m, in, stun::error::bad_request, "Bad RESPONSE-PORT");
    uint16_t port = static_cast<uint16_t>((static_cast<uint8_t>(rp->value[0]) << 8) | static_cast<uint8_t>(rp->value[1]));
    if (port == 0) return error_reply(m, in, stun::error::bad_request, "Bad RESPONSE-PORT");
    to.port = port;
  }
  int from = in.local_index;
  if (change & stun::kChangeIp) from ^= kAltIpBit;
  if (change & stun::kChangePort) from ^= kAltPortBit;
  // RFC 5780 §6.1: a server without an alternate address cannot honour the request.
  if (change != 0 && (!cfg_.has_alt_ip || cfg_.local[from].empty())) {
    const uint16_t cr[] = {stun::attr::change_request};
    return error_reply(m, in, stun::error::unknown_attribute, "Unknown Attribute", cr);
  }

  // Optional attributes go in by priority while the reply stays within the amplification bound.
  auto budget = static_cast<size_t>(static_cast<double>(in.data.size()) * kMaxAmplification);
  const Endpoint& origin = cfg_.local[from];
  const Endpoint& other = cfg_.local[in.local_index ^ (kAltIpBit | kAltPortBit)];
  size_t size = stun::kHeaderSize + addr_attr_size(in.remote.address);
  bool with_other = false, with_origin = false, with_fp = false, with_sw = false;
  auto fits = [&](size_t extra) { return size + extra <= budget; };
  if (cfg_.has_alt_ip && !other.empty() && fits(addr_attr_size(other.address))) {
    with_other = true;
    size += addr_attr_size(other.address);
  }
  if (!origin.empty() && fits(addr_attr_size(origin.address))) {
    with_origin = true;
    size += addr_attr_size(origin.address);
  }
  if (fits(kAttrFingerprint)) {
    with_fp = true;
    size += kAttrFingerprint;
  }
  size_t sw_size = stun::kAttrHeaderSize + padded(cfg_.software.size());
  if (!cfg_.software.empty() && fits(sw_size)) {
    with_sw = true;
    size += sw_size;
  }
  stun::Builder b(stun::method::binding, stun::Class::success, m.transaction_id);
  b.add_xor_address(stun::attr::xor_mapped_address, in.remote.address, in.remote.port);
  if (with_other) b.add_address(stun::attr::other_address, other.address, other.port);
  if (with_origin) b.add_address(stun::attr::response_origin, origin.address, origin.port);
  if (with_sw) b.add(stun::attr::software, cfg_.software);
  // RFC 5780 §7.6: PADDING asks for a reply as large as the request (never larger here).
  if (m.find(stun::attr::padding) && in.transport == Transport::udp) {
    size_t tail = with_fp ? kAttrFingerprint : 0;
    if (in.data.size() > b.size() + tail + kPaddingAttrOverhead)
      b.add(stun::attr::padding, std::string(in.data.size() - b.size() - tail - kPaddingAttrOverhead, '\0'));
  }
  if (with_fp) b.add_fingerprint();
  Result r;
  r.outcome = Outcome::ok;
  r.replies.push_back(Reply{from, to, b.bytes()});
  return r;
}

std::string StunHandler::authenticate(const stun::Message& m, const Inbound& in, Result& err) {
  const auto* t = m.find(stun::attr::rdv_token);
  if (!t) {
    err = error_reply(m, in, stun::error::unauthorized, "Unauthorized");
    return {};
  }
  auto v = token::verify(cfg_.device_keys, t->value, sh_.clock);
  if (v.status != token::Status::ok) {
    err = error_reply(m, in, stun::error::unauthorized, "Unauthorized");
    return {};
  }
  if (!per_device_.allow(rate_key(v.device_id))) {
    err = error_reply(m, in, stun::error::rate_limited, "Rate limited");
    err.outcome = Outcome::rate_limited;
    return {};
  }
  return v.device_id;
}

Result StunHandler::do_register(const stun::Message& m, const Inbound& in) {
  auto unknown = m.unknown_required(kRegisterKnown);
  if (!unknown.empty()) return error_reply(m, in, stun::error::unknown_attribute, "Unknown Attribute", unknown);
  // The registration is the device's UDP data socket; a TCP connection cannot be punched to.
  if (in.transport == Transport::tcp) return error_reply(m, in, stun::error::bad_request, "UDP only");
  Result err;
  std::string device = authenticate(m, in, err);
  if (device.empty()) return err;
  const auto* ih = m.find(stun::attr::rdv_info_hash);
  if (!ih || ih->value.size() != kInfoHashSize) return error_reply(m, in, stun::error::bad_request, "Bad info-hash");
  Registration reg;
  reg.device_id = device;
  reg.info_hash = std::string(ih->value);
  reg.reflexive = in.remote;
  if (const auto* lan = m.find(stun::attr::rdv_lan_address)) {
    auto hp = stun::decode_xor_address(lan->value, m.transaction_id);
    if (!hp) return error_reply(m, in, stun::error::bad_request, "Bad LAN address");
    reg.lan = Endpoint{hp->address, hp->port};
  }
  if (const auto* c = m.find(stun::attr::rdv_nat_class)) {
    auto cls = rdv::parse_nat_class(c->value);
    if (!cls) return error_reply(m, in, stun::error::bad_request, "Bad NAT class");
    reg.cls = *cls;
  }
  reg.replica = cfg_.replica;
  reg.socket_index = in.local_index;
  int64_t now = now_ms(sh_.clock);
  reg.expires_unix_ms = now + cfg_.registration_ttl_s * kMsPerSecond;
  if (!sh_.store.put(reg, now)) return error_reply(m, in, stun::error::server_error, "Store full");

  nat::Ticket t{device, reg.cls, reg.reflexive.text(), sh_.clock.unix_seconds() + cfg_.ticket_ttl_s};
  std::string ticket = cfg_.ticket_key.empty() ? std::string() : nat::mint_ticket(cfg_.ticket_key, t);
  if (!ticket.empty()) sh_.metrics.nat_tickets.with({nat::to_string(nat::reach_of(reg.cls))}).inc();

  rdv::Registered done{net::HostPort{in.remote.address, in.remote.port},
                       static_cast<uint32_t>(cfg_.registration_ttl_s), ticket};
  Result r;
  r.outcome = Outcome::ok;
  r.replies.push_back(Reply{in.local_index, in.remote, rdv::build_registered(m.transaction_id, done)});
  return r;
}

std::string StunHandler::punch_indication(const Registration& from, nat::Decision d, const Endpoint& relayed,
                                          int64_t start_unix_ms) const {
  rdv::PeerInfo p;
  p.device_id = from.device_id;
  p.info_hash = from.info_hash;
  p.decision = d;
  p.action = action_for(d, nat::reach_of(from.cls) == nat::Reach::connectable);
  p.reflexive = net::HostPort{from.reflexive.address, from.reflexive.port};
  if (!from.lan.empty()) p.lan = net::HostPort{from.lan.address, from.lan.port};
  p.nat_class = from.cls;
  p.start_unix_ms = start_unix_ms;
  p.start_delay_ms = static_cast<uint32_t>(cfg_.punch_lead_ms);
  if (!relayed.empty()) p.relayed = net::HostPort{relayed.address, relayed.port};
  return rdv::build_peer_info(stun::method::rdv_punch, stun::random_transaction_id(), p);
}

// Everything a connect needs once the request buffer is gone (the shared-store lookup
// finishes on another thread, after the socket has received the next datagram).
struct StunHandler::ConnectCtx {
  uint16_t method = 0;
  stun::TransactionId tid{};
  size_t request_size = 0;
  Endpoint remote;
  int local_index = 0;
  std::string device, info_hash;
  std::string peer_id;              // the peer named by id, or
  std::optional<Endpoint> peer_ep;  // by its reflexive endpoint
  Endpoint relayed;
  std::optional<Registration> self, peer;
  bool store_failed = false;

  Result error(int code, std::string_view reason) const {
    return error_result(method, tid, request_size, local_index, remote, code, reason, {});
  }
};

Result StunHandler::do_connect(const stun::Message& m, const Inbound& in, Completion& later) {
  auto count = [&](const char* result) { sh_.metrics.connect_requests.with({result}).inc(); };
  auto unknown = m.unknown_required(kConnectKnown);
  if (!unknown.empty()) {
    count("bad_request");
    return error_reply(m, in, stun::error::unknown_attribute, "Unknown Attribute", unknown);
  }
  Result err;
  std::string device = authenticate(m, in, err);
  if (device.empty()) {
    count(err.outcome == Outcome::rate_limited ? "rate_limited" : "unauthorized");
    return err;
  }
  const auto* ih = m.find(stun::attr::rdv_info_hash);
  if (!ih || ih->value.size() != kInfoHashSize) {
    count("bad_request");
    return error_reply(m, in, stun::error::bad_request, "Bad info-hash");
  }
  auto c = std::make_shared<ConnectCtx>();
  c->method = m.method();
  c->tid = m.transaction_id;
  c->request_size = in.data.size();
  c->remote = in.remote;
  c->local_index = in.local_index;
  c->device = std::move(device);
  c->info_hash = std::string(ih->value);
  if (const auto* pid = m.find(stun::attr::rdv_peer_id)) {
    c->peer_id = std::string(pid->value);
  } else if (const auto* pep = m.find(stun::attr::rdv_peer_reflexive)) {
    auto hp = stun::decode_xor_address(pep->value, m.transaction_id);
    if (!hp) {
      count("bad_request");
      return error_reply(m, in, stun::error::bad_request, "Bad peer address");
    }
    c->peer_ep = Endpoint{hp->address, hp->port};
  } else {
    count("bad_request");
    return error_reply(m, in, stun::error::bad_request, "No peer named");
  }
  if (const auto* ra = m.find(stun::attr::rdv_relayed_address)) {
    auto hp = stun::decode_xor_address(ra->value, m.transaction_id);
    if (!hp) {
      count("bad_request");
      return error_reply(m, in, stun::error::bad_request, "Bad relayed address");
    }
    c->relayed = Endpoint{hp->address, hp->port};
  }
  int64_t now = now_ms(sh_.clock);
  c->self = sh_.store.get(c->device, now);
  if (c->self && c->self->info_hash == c->info_hash)
    c->peer = c->peer_ep ? sh_.store.find_by_endpoint(c->info_hash, *c->peer_ep, now) : sh_.store.get(c->peer_id, now);
  bool missing = !c->self || (c->self->info_hash == c->info_hash && !c->peer);
  if (missing && later && sh_.store.shared()) {
    // Registered with another replica: ask the shared store, answer when it has.
    resolve_async(c, std::move(later));
    Result r;
    r.outcome = Outcome::pending;
    return r;
  }
  return finish_connect(*c);
}

void StunHandler::resolve_async(std::shared_ptr<ConnectCtx> c, Completion later) {
  int64_t now = now_ms(sh_.clock);
  if (!c->self) {
    sh_.store.fetch(c->device, now, [this, c, later = std::move(later)](std::optional<Registration> r, bool ok) mutable {
      c->store_failed |= !ok;
      c->self = std::move(r);
      if (!c->self || c->self->info_hash != c->info_hash || c->peer) return later(finish_connect(*c));
      int64_t t = now_ms(sh_.clock);
      c->peer = c->peer_ep ? sh_.store.find_by_endpoint(c->info_hash, *c->peer_ep, t) : sh_.store.get(c->peer_id, t);
      if (c->peer) return later(finish_connect(*c));
      resolve_async(c, std::move(later));
    });
    return;
  }
  auto done = [this, c, later = std::move(later)](std::optional<Registration> r, bool ok) mutable {
    c->store_failed |= !ok;
    c->peer = std::move(r);
    later(finish_connect(*c));
  };
  if (c->peer_ep) sh_.store.fetch_by_endpoint(c->info_hash, *c->peer_ep, now, std::move(done));
  else sh_.store.fetch(c->peer_id, now, std::move(done));
}

Result StunHandler::finish_connect(ConnectCtx& c) {
  auto count = [&](const char* result) { sh_.metrics.connect_requests.with({result}).inc(); };
  const auto& device = c.device;
  const auto& info_hash = c.info_hash;
  if (!c.self || c.self->info_hash != info_hash) {
    if (c.store_failed) {
      count("store_unavailable");
      return c.error(stun::error::server_error, "Store unavailable");
    }
    count("not_registered");
    return c.error(stun::error::forbidden, "Register first");
  }
  auto& self = c.self;
  auto& peer = c.peer;
  if (!peer || peer->info_hash != info_hash || peer->device_id == device) {
    if (c.store_failed) {
      count("store_unavailable");
      return c.error(stun::error::server_error, "Store unavailable");
    }
    count("peer_not_found");
    return c.error(stun::error::not_found, "Peer not registered");
  }
  const Endpoint& relayed = c.relayed;

  nat::Decision d = nat::decide(self->cls, peer->cls);
  TurnCredentials creds;
  if (d == nat::Decision::relay) {
    std::string pair = std::min(device, peer->device_id) + "\n" + std::max(device, peer->device_id);
    if (!sh_.relay.admit(info_hash, pair, sh_.clock.mono_ms())) {
      count("relay_budget_exhausted");
      sh_.metrics.pair_decisions.with({"refused"}).inc();
      sh_.metrics.relay_budget_exhausted.with({crypto::hex(info_hash)}).inc();
      return c.error(stun::error::quota_reached, "Relay budget exhausted");
    }
    if (!cfg_.turn_secret.empty()) {
      creds = make_turn_credentials(cfg_.turn_secret, device, sh_.clock.unix_seconds(), cfg_.turn_ttl_s);
      sh_.metrics.turn_credentials.with({"issued"}).inc();
    }
  }
  sh_.metrics.pair_decisions.with({decision_label(d)}).inc();
  count("ok");
  int64_t start = now_ms(sh_.clock) + cfg_.punch_lead_ms;

  // The peer hears about it from the socket it registered on, wherever that replica is.
  Notice n;
  n.replica = peer->replica;
  n.socket_index = peer->socket_index;
  n.to = peer->reflexive;
  n.bytes = punch_indication(*self, nat::decide(peer->cls, self->cls), relayed, start);
  sh_.store.publish(n);

  rdv::PeerInfo p;
  p.mapped = net::HostPort{c.remote.address, c.remote.port};
  p.device_id = peer->device_id;
  p.decision = d;
  p.action = action_for(d, nat::reach_of(peer->cls) == nat::Reach::connectable);
  p.reflexive = net::HostPort{peer->reflexive.address, peer->reflexive.port};
  if (!peer->lan.empty()) p.lan = net::HostPort{peer->lan.address, peer->lan.port};
  p.nat_class = peer->cls;
  p.start_unix_ms = start;
  p.start_delay_ms = static_cast<uint32_t>(cfg_.punch_lead_ms);
  p.turn_username = creds.username;
  p.turn_password = creds.password;
  Result r;
  r.outcome = Outcome::ok;
  r.replies.push_back(Reply{c.local_index, c.remote, rdv::build_peer_info(stun::method::rdv_connect, c.tid, p)});
  return r;
}

}  // namespace otaswarm::rendezvous

#include "common/proto/rdv.h"

namespace otaswarm::rdv {

namespace {
constexpr uint8_t kMaxDecision = static_cast<uint8_t>(nat::Decision::relay);
constexpr uint8_t kMaxAction = static_cast<uint8_t>(Action::relay);

void add_xor(stun::Builder& b, uint16_t type, const net::HostPort& hp) { b.add_xor_address(type, hp.address, hp.port); }

template <class T>
Read<T> fail(ReadError e) {
  Read<T> r;
  r.error = e;
  return r;
}

// Success of `method` for `tid`, or the reason it is not; error responses carry their code.
template <class T>
std::optional<Read<T>> check_reply(const stun::Message& m, uint16_t method, const stun::TransactionId& tid) {
  if (m.method() != method || m.transaction_id != tid) return fail<T>(ReadError::wrong_message);
  if (m.cls() == stun::Class::error) {
    Read<T> r = fail<T>(ReadError::error_response);
    const auto* e = m.find(stun::attr::error_code);
    auto code = e ? stun::decode_error_code(e->value) : std::nullopt;
    if (!code) return fail<T>(ReadError::bad_attribute);
    r.refusal = *code;
    return r;
  }
  if (m.cls() != stun::Class::success) return fail<T>(ReadError::wrong_message);
  return std::nullopt;
}

Read<PeerInfo> read_peer_info(const stun::Message& m) {
  PeerInfo p;
  const auto* dev = m.find(stun::attr::rdv_device_id);
  const auto* dec = m.find(stun::attr::rdv_decision);
  const auto* refl = m.find(stun::attr::rdv_peer_reflexive);
  const auto* cls = m.find(stun::attr::rdv_nat_class);
  const auto* start = m.find(stun::attr::rdv_start_time);
  const auto* delay = m.find(stun::attr::rdv_start_delay);
  if (!dev || !dec || !refl || !cls || !start || !delay) return fail<PeerInfo>(ReadError::missing_attribute);
  p.device_id = std::string(dev->value);
  if (p.device_id.empty() || dec->value.size() != kDecisionSize) return fail<PeerInfo>(ReadError::bad_attribute);
  auto d = static_cast<uint8_t>(dec->value[0]), a = static_cast<uint8_t>(dec->value[1]);
  if (d > kMaxDecision || a > kMaxAction) return fail<PeerInfo>(ReadError::bad_attribute);
  p.decision = static_cast<nat::Decision>(d);
  p.action = static_cast<Action>(a);
  auto r = stun::decode_xor_address(refl->value, m.transaction_id);
  auto c = parse_nat_class(cls->value);
  auto st = stun::decode_u64(start->value);
  auto dl = stun::decode_u32(delay->value);
  if (!r || !c || !st || !dl || *st > static_cast<uint64_t>(INT64_MAX)) return fail<PeerInfo>(ReadError::bad_attribute);
  p.reflexive = *r;
  p.nat_class = *c;
  p.start_unix_ms = static_cast<int64_t>(*st);
  p.start_delay_ms = *dl;
  auto opt_xor = [&](uint16_t type, std::optional<net::HostPort>& out) {
    const auto* at = m.find(type);
    if (!at) return true;
    out = stun::decode_xor_address(at->value, m.transaction_id);
    return out.has_value();
  };
  if (!opt_xor(stun::attr::rdv_peer_lan, p.lan) || !opt_xor(stun::attr::rdv_relayed_address, p.relayed) ||
      !opt_xor(stun::attr::xor_mapped_address, p.mapped))
    return fail<PeerInfo>(ReadError::bad_attribute);
  if (const auto* ih = m.find(stun::attr::rdv_info_hash)) {
    if (ih->value.size() != kInfoHashSize) return fail<PeerInfo>(ReadError::bad_attribute);
    p.info_hash = std::string(ih->value);
  }
  if (const auto* u = m.find(stun::attr::rdv_turn_username)) p.turn_username = std::string(u->value);
  if (const auto* pw = m.find(stun::attr::rdv_turn_password)) p.turn_password = std::string(pw->value);
  Read<PeerInfo> out;
  out.value = std::move(p);
  return out;
}
}  // namespace

const char* to_string(Action a) {
  switch (a) {
    case Action::connect: return "connect";
    case Action::accept: return "accept";
    case Action::punch: return "punch";
    case Action::relay: return "relay";
  }
  return "relay";
}

const char* to_string(ReadError e) {
  switch (e) {
    case ReadError::none: return "none";
    case ReadError::malformed: return "malformed";
    case ReadError::wrong_message: return "wrong_message";
    case ReadError::missing_attribute: return "missing_attribute";
    case ReadError::bad_attribute: return "bad_attribute";
    case ReadError::error_response: return "error_response";
  }
  return "malformed";
}

std::string nat_class_bytes(const nat::NatClass& c) {
  return {static_cast<char>(c.mapping), static_cast<char>(c.filtering), static_cast<char>(c.public_address ? 1 : 0),
          0};
}

std::optional<nat::NatClass> parse_nat_class(std::string_view v) {
  if (v.size() != kNatClassSize) return std::nullopt;
  auto m = static_cast<uint8_t>(v[0]), f = static_cast<uint8_t>(v[1]), p = static_cast<uint8_t>(v[2]);
  if (m > static_cast<uint8_t>(nat::Mapping::address_and_port_dependent) ||
      f > static_cast<uint8_t>(nat::Filtering::address_and_port_dependent) || p > 1)
    return std::nullopt;
  return nat::NatClass{static_cast<nat::Mapping>(m), static_cast<nat::Filtering>(f), p == 1};
}

std::string build_register(const RegisterRequest& r, const stun::TransactionId& tid) {
  stun::Builder b(stun::method::rdv_register, stun::Class::request, tid);
  b.add(stun::attr::rdv_token, r.token).add(stun::attr::rdv_info_hash, r.info_hash);
  if (r.lan) add_xor(b, stun::attr::rdv_lan_address, *r.lan);
  if (r.nat_class) b.add(stun::attr::rdv_nat_class, nat_class_bytes(*r.nat_class));
  b.add_fingerprint();
  return b.bytes();
}

std::string build_connect(const ConnectRequest& r, const stun::TransactionId& tid) {
  stun::Builder b(stun::method::rdv_connect, stun::Class::request, tid);
  b.add(stun::attr::rdv_token, r.token).add(stun::attr::rdv_info_hash, r.info_hash);
  if (!r.peer_id.empty()) b.add(stun::attr::rdv_peer_id, r.peer_id);
  else if (r.peer_reflexive) add_xor(b, stun::attr::rdv_peer_reflexive, *r.peer_reflexive);
  if (r.relayed) add_xor(b, stun::attr::rdv_relayed_address, *r.relayed);
  b.add_fingerprint();
  return b.bytes();
}

std::string build_registered(const stun::TransactionId& tid, const Registered& r) {
  stun::Builder b(stun::method::rdv_register, stun::Class::success, tid);
  add_xor(b, stun::attr::xor_mapped_address, r.reflexive);
  b.add_u32(stun::attr::rdv_lifetime, r.lifetime_s);
  if (!r.nat_ticket.empty()) b.add(stun::attr::rdv_nat_ticket, r.nat_ticket);
  b.add_fingerprint();
  return b.bytes();
}

std::string build_peer_info(uint16_t method, const stun::TransactionId& tid, const PeerInfo& p) {
  auto cls = method == stun::method::rdv_punch ? stun::Class::indication : stun::Class::success;
  stun::Builder b(method, cls, tid);
  if (p.mapped) add_xor(b, stun::attr::xor_mapped_address, *p.mapped);
  b.add(stun::attr::rdv_device_id, p.device_id);
  if (!p.info_hash.empty()) b.add(stun::attr::rdv_info_hash, p.info_hash);
  b.add(stun::attr::rdv_decision, std::string{static_cast<char>(p.decision), static_cast<char>(p.action), 0, 0});
  add_xor(b, stun::attr::rdv_peer_reflexive, p.reflexive);
  if (p.lan) add_xor(b, stun::attr::rdv_peer_lan, *p.lan);
  b.add(stun::attr::rdv_nat_class, nat_class_bytes(p.nat_class))
      .add_u64(stun::attr::rdv_start_time, static_cast<uint64_t>(p.start_unix_ms))
      .add_u32(stun::attr::rdv_start_delay, p.start_delay_ms);
  if (!p.turn_username.empty())
    b.add(stun::attr::rdv_turn_username, p.turn_username).add(stun::attr::rdv_turn_password, p.turn_password);
  if (p.relayed) add_xor(b, stun::attr::rdv_relayed_address, *p.relayed);
  b.add_fingerprint();
  return b.bytes();
}

Read<Registered> read_registered(const stun::Message& m, const stun::TransactionId& tid) {
  if (auto bad = check_reply<Registered>(m, stun::method::rdv_register, tid)) return *bad;
  const auto* xma = m.find(stun::attr::xor_mapped_address);
  const auto* life = m.find(stun::attr::rdv_lifetime);
  if (!xma || !life) return fail<Registered>(ReadError::missing_attribute);
  auto refl = stun::decode_xor_address(xma->value, m.transaction_id);
  auto l = stun::decode_u32(life->value);
  if (!refl || !l) return fail<Registered>(ReadError::bad_attribute);
  Read<Registered> r;
  r.value.reflexive = *refl;
  r.value.lifetime_s = *l;
  if (const auto* t = m.find(stun::attr::rdv_nat_ticket)) r.value.nat_ticket = std::string(t->value);
  return r;
}

Read<PeerInfo> read_connected(const stun::Message& m, const stun::TransactionId& tid) {
  if (auto bad = check_reply<PeerInfo>(m, stun::method::rdv_connect, tid)) return *bad;
  return read_peer_info(m);
}

Read<PeerInfo> read_punch(const stun::Message& m) {
  if (m.method() != stun::method::rdv_punch || m.cls() != stun::Class::indication)
    return fail<PeerInfo>(ReadError::wrong_message);
  return read_peer_info(m);
}

}  // namespace otaswarm::rdv

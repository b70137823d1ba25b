#include "common/proto/nat.h"

#include <charconv>
#include <span>

#include "common/crypto.h"
#include "common/net.h"

namespace otaswarm::nat {

namespace {
// Domain separation: a ticket MAC can never be confused with a device-token MAC under the same key.
constexpr std::string_view kTicketDomain = "otaswarm-nat-ticket-v1\n";
constexpr std::string_view kTicketVersion = "n1";
constexpr size_t kTicketMacBytes = 16;
constexpr size_t kTicketParts = 6;
constexpr size_t kIpv4Bytes = 4, kIpv6Bytes = 16, kPortBytes = 2;

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string ticket_mac(std::string_view key, std::string_view signed_part) {
  std::string msg;
  msg.reserve(kTicketDomain.size() + signed_part.size());
  msg.append(kTicketDomain).append(signed_part);
  auto h = crypto::hmac_sha256_cached(key, msg);
  return std::string(reinterpret_cast<const char*>(h.data()), kTicketMacBytes);
}

// Reflexive endpoint as raw address bytes + big-endian port (compact and URL-safe once base64url'd).
std::optional<std::string> encode_endpoint(std::string_view text) {
  if (text.empty()) return std::string();
  auto hp = net::parse_host_port(text);
  if (!hp || hp->port == 0) return std::nullopt;
  std::string out;
  auto a = net::unmap(hp->address);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  } else {
    auto b = a.to_v6().to_bytes();
    out.assign(reinterpret_cast<const char*>(b.data()), b.size());
  }
  out.push_back(static_cast<char>(hp->port >> 8));
  out.push_back(static_cast<char>(hp->port & 0xff));
  return out;
}

std::optional<std::string> decode_endpoint(std::string_view raw) {
  if (raw.empty()) return std::string();
  if (raw.size() != kIpv4Bytes + kPortBytes && raw.size() != kIpv6Bytes + kPortBytes) return std::nullopt;
  size_t alen = raw.size() - kPortBytes;
  uint16_t port = static_cast<uint16_t>((static_cast<uint8_t>(raw[alen]) << 8) | static_cast<uint8_t>(raw[alen + 1]));
  if (port == 0) return std::nullopt;
  net::Address a;
  if (alen == kIpv4Bytes) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy(raw.begin(), raw.begin() + kIpv4Bytes, b.begin());
    a = boost::asio::ip::address_v4(b);
  } else {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy(raw.begin(), raw.begin() + kIpv6Bytes, b.begin());
    a = boost::asio::ip::address_v6(b);
  }
  return net::format(a, port);
}

char class_digit(uint8_t v) { return static_cast<char>('0' + v); }

// Unknown mapping is treated as endpoint-independent: a punch attempt is cheap, relay is not.
bool maps_independently(Mapping m) { return m == Mapping::endpoint_independent || m == Mapping::unknown; }

bool is_connectable(const NatClass& c) { return reach_of(c) == Reach::connectable; }
}  // namespace

Reach reach_of(const NatClass& c) {
  if (c.public_address) return Reach::connectable;
  switch (c.mapping) {
    case Mapping::endpoint_independent:
      return c.filtering == Filtering::endpoint_independent ? Reach::connectable : Reach::punchable;
    case Mapping::address_dependent:
    case Mapping::address_and_port_dependent: return Reach::hard;
    case Mapping::unknown: return Reach::unknown;
  }
  return Reach::unknown;
}

const char* to_string(Mapping m) {
  switch (m) {
    case Mapping::endpoint_independent: return "endpoint-independent";
    case Mapping::address_dependent: return "address-dependent";
    case Mapping::address_and_port_dependent: return "address-and-port-dependent";
    case Mapping::unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(Filtering f) {
  switch (f) {
    case Filtering::endpoint_independent: return "endpoint-independent";
    case Filtering::address_dependent: return "address-dependent";
    case Filtering::address_and_port_dependent: return "address-and-port-dependent";
    case Filtering::unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(Reach r) {
  switch (r) {
    case Reach::connectable: return "connectable";
    case Reach::punchable: return "punchable";
    case Reach::hard: return "hard";
    case Reach::unknown: return "unknown";
  }
  return "unknown";
}

const char* to_string(Decision d) {
  switch (d) {
    case Decision::direct: return "direct";
    case Decision::punch_a_initiates: return "punch_a_initiates";
    case Decision::punch_b_initiates: return "punch_b_initiates";
    case Decision::punch_simultaneous: return "punch_simultaneous";
    case Decision::relay: return "relay";
  }
  return "relay";
}

const char* to_string(TicketStatus s) {
  switch (s) {
    case TicketStatus::ok: return "ok";
    case TicketStatus::malformed: return "malformed NAT ticket";
    case TicketStatus::bad_signature: return "NAT ticket signature invalid";
    case TicketStatus::expired: return "NAT ticket expired";
  }
  return "invalid NAT ticket";
}

std::optional<Mapping> parse_mapping(std::string_view s) {
  for (auto m : {Mapping::unknown, Mapping::endpoint_independent, Mapping::address_dependent,
                 Mapping::address_and_port_dependent})
    if (s == to_string(m)) return m;
  return std::nullopt;
}

std::optional<NatClass> classic_class(std::string_view name) {
  using F = Filtering;
  using M = Mapping;
  if (name == "public") return NatClass{M::endpoint_independent, F::endpoint_independent, true};
  if (name == "full-cone") return NatClass{M::endpoint_independent, F::endpoint_independent, false};
  if (name == "restricted") return NatClass{M::endpoint_independent, F::address_dependent, false};
  if (name == "port-restricted") return NatClass{M::endpoint_independent, F::address_and_port_dependent, false};
  if (name == "symmetric") return NatClass{M::address_and_port_dependent, F::address_and_port_dependent, false};
  return std::nullopt;
}

std::optional<Filtering> parse_filtering(std::string_view s) {
  for (auto f : {Filtering::unknown, Filtering::endpoint_independent, Filtering::address_dependent,
                 Filtering::address_and_port_dependent})
    if (s == to_string(f)) return f;
  return std::nullopt;
}

Decision decide(const NatClass& a, const NatClass& b) {
  if (is_connectable(a) || is_connectable(b)) return Decision::direct;
  bool a_eim = maps_independently(a.mapping), b_eim = maps_independently(b.mapping);
  if (a_eim && b_eim) return Decision::punch_simultaneous;
  if (!a_eim && !b_eim) return Decision::relay;
  // One side maps per destination: its new port is unpredictable, so it must send first to the
  // other side's stable mapping, which only works if that side filters by address alone.
  const NatClass& stable = a_eim ? a : b;
  if (stable.filtering != Filtering::address_dependent) return Decision::relay;
  return a_eim ? Decision::punch_b_initiates : Decision::punch_a_initiates;
}

std::string mint_ticket(std::string_view key, const Ticket& t) {
  if (key.empty() || !token::valid_device_id(t.device_id) || t.expiry <= 0) return {};
  auto ep = encode_endpoint(t.reflexive);
  if (!ep) return {};
  std::string body;
  body.append(kTicketVersion).append(".").append(crypto::base64url(t.device_id)).append(".");
  body.push_back(class_digit(static_cast<uint8_t>(t.cls.mapping)));
  body.push_back(class_digit(static_cast<uint8_t>(t.cls.filtering)));
  body.push_back(t.cls.public_address ? '1' : '0');
  body.append(".").append(crypto::base64url(*ep)).append(".").append(std::to_string(t.expiry));
  std::string out = body + "." + crypto::base64url(ticket_mac(key, body));
  if (out.size() > kMaxTicketLength) return {};
  return out;
}

TicketResult verify_ticket(const token::KeyRing& keys, std::string_view text, const Clock& clock) {
  TicketResult r;
  if (text.empty() || text.size() > kMaxTicketLength) return r;
  std::string_view parts[kTicketParts];
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      if (n == kTicketParts) return r;
      parts[n++] = text.substr(start, i - start);
      start = i + 1;
    }
  }
  if (n != kTicketParts || parts[0] != kTicketVersion) return r;
  auto device = crypto::unbase64url(parts[1]);
  if (!device || !token::valid_device_id(*device)) return r;
  std::string_view cls = parts[2];
  auto max_m = static_cast<char>('0' + static_cast<uint8_t>(Mapping::address_and_port_dependent));
  auto max_f = static_cast<char>('0' + static_cast<uint8_t>(Filtering::address_and_port_dependent));
  if (cls.size() != 3 || cls[0] < '0' || cls[0] > max_m || cls[1] < '0' || cls[1] > max_f ||
      (cls[2] != '0' && cls[2] != '1'))
    return r;
  auto raw_ep = crypto::unbase64url(parts[3]);
  if (!raw_ep) return r;
  auto reflexive = decode_endpoint(*raw_ep);
  if (!reflexive) return r;
  int64_t expiry = 0;
  auto [p, ec] = std::from_chars(parts[4].data(), parts[4].data() + parts[4].size(), expiry);
  if (parts[4].empty() || ec != std::errc() || p != parts[4].data() + parts[4].size() || expiry <= 0 ||
      parts[4][0] == '0')
    return r;
  auto given = crypto::unbase64url(parts[5]);
  if (!given || given->size() != kTicketMacBytes) return r;
  std::string_view signed_part = text.substr(0, text.size() - parts[5].size() - 1);
  bool ok = false;
  for (const std::string* k : {&keys.current(), &keys.previous()}) {
    if (k->empty()) continue;
    if (crypto::equal_ct(bytes_of(ticket_mac(*k, signed_part)), bytes_of(*given))) ok = true;
  }
  if (!ok) {
    r.status = TicketStatus::bad_signature;
    return r;
  }
  r.ticket.device_id = std::move(*device);
  r.ticket.cls.mapping = static_cast<Mapping>(cls[0] - '0');
  r.ticket.cls.filtering = static_cast<Filtering>(cls[1] - '0');
  r.ticket.cls.public_address = cls[2] == '1';
  r.ticket.reflexive = std::move(*reflexive);
  r.ticket.expiry = expiry;
  r.status = expiry < clock.unix_seconds() ? TicketStatus::expired : TicketStatus::ok;
  return r;
}

}  // namespace otaswarm::nat

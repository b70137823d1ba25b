#include "common/proto/stun.h"

#include <algorithm>

#include "common/crypto.h"

namespace otaswarm::stun {

namespace {
constexpr size_t kAlign = 4;
constexpr size_t kTypicalMessageSize = 128;  // one allocation for almost every reply
constexpr uint8_t kFamilyV4 = 0x01, kFamilyV6 = 0x02;
constexpr size_t kAddrV4Value = 8, kAddrV6Value = 20;
constexpr size_t kFingerprintAttrSize = kAttrHeaderSize + 4;
constexpr size_t kIntegrityAttrSize = kAttrHeaderSize + kMessageIntegritySize;

uint16_t rd16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
uint32_t rd32(const char* p) { return (static_cast<uint32_t>(rd16(p)) << 16) | rd16(p + 2); }
void wr16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xff));
}
void wr32(std::string& s, uint32_t v) {
  wr16(s, static_cast<uint16_t>(v >> 16));
  wr16(s, static_cast<uint16_t>(v & 0xffff));
}
void put16(std::string& s, size_t at, uint16_t v) {
  s[at] = static_cast<char>(v >> 8);
  s[at + 1] = static_cast<char>(v & 0xff);
}
size_t padded(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Slicing-by-8 tables: t[0] is the classic byte table, t[k][i] advances t[k-1][i] by one byte,
// so the loop folds eight bytes per step (FINGERPRINT is computed on every request and reply).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;
constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t k = 1; k < t.size(); ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  return t;
}
constexpr CrcTables kCrc = make_crc_tables();

// XOR key for addresses: magic cookie, then the transaction id (IPv6).
std::array<uint8_t, 16> xor_key(const TransactionId& tid) {
  std::array<uint8_t, 16> k{};
  k[0] = 0x21;
  k[1] = 0x12;
  k[2] = 0xA4;
  k[3] = 0x42;
  std::copy(tid.begin(), tid.end(), k.begin() + 4);
  return k;
}

std::optional<net::HostPort> decode_addr(std::string_view v, const std::array<uint8_t, 16>* key) {
  if (v.size() < 4) return std::nullopt;
  uint8_t family = static_cast<uint8_t>(v[1]);
  uint16_t port = rd16(v.data() + 2);
  if (key) port ^= 0x2112;
  net::HostPort hp;
  hp.port = port;
  if (family == kFamilyV4 && v.size() == kAddrV4Value) {
    boost::asio::ip::address_v4::bytes_type b;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(v[4 + i]) ^ (key ? (*key)[i] : 0);
    hp.address = boost::asio::ip::address_v4(b);
    return hp;
  }
  if (family == kFamilyV6 && v.size() == kAddrV6Value) {
    boost::asio::ip::address_v6::bytes_type b;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(v[4 + i]) ^ (key ? (*key)[i] : 0);
    hp.address = boost::asio::ip::address_v6(b);
    return hp;
  }
  return std::nullopt;
}
}  // namespace

uint32_t crc32(std::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t c = 0xFFFFFFFFu;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = c ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    uint32_t hi = uint32_t{p[4]} | uint32_t{p[5]} << 8 | uint32_t{p[6]} << 16 | uint32_t{p[7]} << 24;
    c = kCrc[7][lo & 0xff] ^ kCrc[6][(lo >> 8) & 0xff] ^ kCrc[5][(lo >> 16) & 0xff] ^ kCrc[4][lo >> 24] ^
        kCrc[3][hi & 0xff] ^ kCrc[2][(hi >> 8) & 0xff] ^ kCrc[1][(hi >> 16) & 0xff] ^ kCrc[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = kCrc[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint16_t message_type(uint16_t m, Class cls) {
  uint16_t c = static_cast<uint16_t>(cls);
  return static_cast<uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) |
                               ((c & 2) << 7));
}
uint16_t method_of(uint16_t t) {
  return static_cast<uint16_t>((t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2));
}
Class class_of(uint16_t t) { return static_cast<Class>(((t >> 4) & 1) | ((t >> 7) & 2)); }

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::none: return "ok";
    case ParseError::too_short: return "too_short";
    case ParseError::not_stun: return "not_stun";
    case ParseError::bad_magic: return "bad_magic";
    case ParseError::bad_length: return "bad_length";
    case ParseError::too_large: return "too_large";
    case ParseError::bad_attribute: return "bad_attribute";
    case ParseError::too_many_attributes: return "too_many_attributes";
    case ParseError::bad_fingerprint: return "bad_fingerprint";
  }
  return "malformed";
}

const Attribute* Message::find(uint16_t t) const {
  for (const auto& a : attributes)
    if (a.type == t) return &a;
  return nullptr;
}

std::vector<uint16_t> Message::unknown_required(std::span<const uint16_t> known) const {
  std::vector<uint16_t> out;
  for (const auto& a : attributes) {
    if (!attr::comprehension_required(a.type)) continue;
    if (std::find(known.begin(), known.end(), a.type) != known.end()) continue;
    if (std::find(out.begin(), out.end(), a.type) == out.end()) out.push_back(a.type);
  }
  return out;
}

std::optional<size_t> framed_size(std::string_view h) {
  if (h.size() < kHeaderSize) return std::nullopt;
  if ((static_cast<uint8_t>(h[0]) & 0xC0) != 0 || rd32(h.data() + 4) != kMagicCookie) return std::nullopt;
  size_t len = rd16(h.data() + 2);
  if (len % kAlign != 0) return std::nullopt;
  return kHeaderSize + len;
}

ParseResult parse(std::string_view d) {
  ParseResult r;
  if (d.size() < kHeaderSize) {
    r.error = ParseError::too_short;
    return r;
  }
  if (d.size() > kMaxMessageSize) {
    r.error = ParseError::too_large;
    return r;
  }
  if ((static_cast<uint8_t>(d[0]) & 0xC0) != 0) {
    r.error = ParseError::not_stun;
    return r;
  }
  if (rd32(d.data() + 4) != kMagicCookie) {
    r.error = ParseError::bad_magic;
    return r;
  }
  size_t len = rd16(d.data() + 2);
  if (len % kAlign != 0 || kHeaderSize + len != d.size()) {
    r.error = ParseError::bad_length;
    return r;
  }
  Message& m = r.message;
  m.type = rd16(d.data());
  std::copy(d.begin() + 8, d.begin() + kHeaderSize, m.transaction_id.begin());
  m.raw = d;
  size_t pos = kHeaderSize;
  while (pos < d.size()) {
    if (d.size() - pos < kAttrHeaderSize) {
      r.error = ParseError::bad_attribute;
      return r;
    }
    uint16_t type = rd16(d.data() + pos);
    size_t alen = rd16(d.data() + pos + 2);
    if (padded(alen) > d.size() - pos - kAttrHeaderSize) {
      r.error = ParseError::bad_attribute;
      return r;
    }
    if (m.attributes.size() == kMaxAttributes) {
      r.error = ParseError::too_many_attributes;
      return r;
    }
    if (m.has_fingerprint) {  // nothing may follow FINGERPRINT
      r.error = ParseError::bad_fingerprint;
      return r;
    }
    m.attributes.push_back(Attribute{type, d.substr(pos + kAttrHeaderSize, alen), pos});
    if (type == attr::fingerprint) {
      if (alen != 4) {
        r.error = ParseError::bad_fingerprint;
        return r;
      }
      uint32_t want = crc32(d.substr(0, pos)) ^ kFingerprintXor;
      if (rd32(d.data() + pos + kAttrHeaderSize) != want) {
        r.error = ParseError::bad_fingerprint;
        return r;
      }
      m.has_fingerprint = true;
    }
    pos += kAttrHeaderSize + padded(alen);
  }
  return r;
}

std::optional<net::HostPort> decode_address(std::string_view v) { return decode_addr(v, nullptr); }

std::optional<net::HostPort> decode_xor_address(std::string_view v, const TransactionId& tid) {
  auto k = xor_key(tid);
  return decode_addr(v, &k);
}

std::optional<uint32_t> decode_u32(std::string_view v) {
  if (v.size() != 4) return std::nullopt;
  return rd32(v.data());
}

std::optional<uint64_t> decode_u64(std::string_view v) {
  if (v.size() != 8) return std::nullopt;
  return (static_cast<uint64_t>(rd32(v.data())) << 32) | rd32(v.data() + 4);
}

std::optional<ErrorCode> decode_error_code(std::string_view v) {
  if (v.size() < 4 || v.size() - 4 > kMaxReasonLength) return std::nullopt;
  int cls = static_cast<uint8_t>(v[2]) & 0x7;
  int num = static_cast<uint8_t>(v[3]);
  if (cls < 3 || cls > 6 || num > 99) return std::nullopt;
  return ErrorCode{cls * 100 + num, std::string(v.substr(4))};
}

std::vector<uint16_t> decode_unknown_attributes(std::string_view v) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i + 2 <= v.size(); i += 2) out.push_back(rd16(v.data() + i));
  return out;
}

bool check_message_integrity(const Message& m, std::string_view key) {
  const Attribute* mi = m.find(attr::message_integrity);
  if (!mi || mi->value.size() != kMessageIntegritySize) return false;
  // The length field covers everything up to and including MESSAGE-INTEGRITY (RFC 8489 §14.5).
  std::string covered(m.raw.substr(0, mi->offset));
  put16(covered, 2, static_cast<uint16_t>(mi->offset + kIntegrityAttrSize - kHeaderSize));
  auto h = crypto::hmac_sha1(key, covered);
  return crypto::equal_ct(h, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(mi->value.data()),
                                                      mi->value.size()));
}

Builder::Builder(uint16_t m, Class cls, const TransactionId& tid) : tid_(tid) {
  buf_.reserve(kTypicalMessageSize);
  wr16(buf_, message_type(m, cls));
  wr16(buf_, 0);
  wr32(buf_, kMagicCookie);
  buf_.append(reinterpret_cast<const char*>(tid.data()), tid.size());
}

void Builder::set_length(size_t body_len) { put16(buf_, 2, static_cast<uint16_t>(body_len)); }

Builder& Builder::add(uint16_t type, std::string_view value) {
  wr16(buf_, type);
  wr16(buf_, static_cast<uint16_t>(value.size()));
  buf_.append(value);
  buf_.append(padded(value.size()) - value.size(), static_cast<char>(pad_));
  set_length(buf_.size() - kHeaderSize);
  return *this;
}

Builder& Builder::add_u32(uint16_t type, uint32_t v) {
  std::string s;
  wr32(s, v);
  return add(type, s);
}

Builder& Builder::add_u64(uint16_t type, uint64_t v) {
  std::string s;
  wr32(s, static_cast<uint32_t>(v >> 32));
  wr32(s, static_cast<uint32_t>(v & 0xffffffffu));
  return add(type, s);
}

static std::string encode_addr(const net::Address& a0, uint16_t port, const std::array<uint8_t, 16>* key) {
  auto a = net::unmap(a0);
  std::string s;
  s.push_back(0);
  s.push_back(static_cast<char>(a.is_v4() ? kFamilyV4 : kFamilyV6));
  wr16(s, key ? static_cast<uint16_t>(port ^ 0x2112) : port);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    for (size_t i = 0; i < b.size(); ++i) s.push_back(static_cast<char>(b[i] ^ (key ? (*key)[i] : 0)));
  } else {
    auto b = a.to_v6().to_bytes();
    for (size_t i = 0; i < b.size(); ++i) s.push_back(static_cast<char>(b[i] ^ (key ? (*key)[i] : 0)));
  }
  return s;
}

Builder& Builder::add_address(uint16_t type, const net::Address& a, uint16_t port) {
  return add(type, encode_addr(a, port, nullptr));
}

Builder& Builder::add_xor_address(uint16_t type, const net::Address& a, uint16_t port) {
  auto k = xor_key(tid_);
  return add(type, encode_addr(a, port, &k));
}

Builder& Builder::add_error(int code, std::string_view reason) {
  std::string s;
  wr16(s, 0);
  s.push_back(static_cast<char>(code / 100));
  s.push_back(static_cast<char>(code % 100));
  s.append(reason.substr(0, kMaxReasonLength));
  return add(attr::error_code, s);
}

Builder& Builder::add_unknown_attributes(std::span<const uint16_t> types) {
  std::string s;
  for (uint16_t t : types) wr16(s, t);
  return add(attr::unknown_attributes, s);
}

Builder& Builder::add_message_integrity(std::string_view key) {
  set_length(buf_.size() + kIntegrityAttrSize - kHeaderSize);
  auto h = crypto::hmac_sha1(key, buf_);
  return add(attr::message_integrity, crypto::as_view(h));
}

Builder& Builder::add_fingerprint() {
  set_length(buf_.size() + kFingerprintAttrSize - kHeaderSize);
  return add_u32(attr::fingerprint, crc32(buf_) ^ kFingerprintXor);
}

TransactionId random_transaction_id() {
  TransactionId t;
  crypto::random_bytes(t.data(), t.size());
  return t;
}

}  // namespace otaswarm::stun

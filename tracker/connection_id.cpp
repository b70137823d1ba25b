#include "tracker/connection_id.h"

#include <cstring>

#include "common/crypto.h"
#include "common/net.h"
#include "common/proto/bep15.h"

namespace otaswarm {

namespace {

void derive(const std::string& secret, uint8_t out[16]) {
  auto h = crypto::sha256("otaswarm-connection-id-v1\n" + secret);
  std::memcpy(out, h.data(), 16);
}

}  // namespace

namespace {
uint64_t load_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }
}  // namespace

uint64_t siphash24(const uint8_t key[16], const uint8_t* msg, size_t n) {
  const uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
  auto round = [&] {
    v0 += v1;
    v1 = rotl(v1, 13) ^ v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16) ^ v2;
    v0 += v3;
    v3 = rotl(v3, 21) ^ v0;
    v2 += v1;
    v1 = rotl(v1, 17) ^ v2;
    v2 = rotl(v2, 32);
  };
  auto compress = [&](uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) compress(load_le64(msg + i));
  uint64_t last = static_cast<uint64_t>(n & 0xff) << 56;
  for (size_t j = 0; i + j < n; ++j) last |= static_cast<uint64_t>(msg[i + j]) << (8 * j);
  compress(last);
  v2 ^= 0xff;
  for (int r = 0; r < 4; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

ConnectionIds::ConnectionIds(const std::string& key, const std::string& previous_key, const Clock& clock)
    : clock_(clock) {
  derive(key, key_);
  if (!previous_key.empty()) {
    derive(previous_key, prev_key_);
    has_prev_ = true;
  }
}

ConnectionIds::~ConnectionIds() = default;

uint64_t ConnectionIds::compute(const uint8_t key[16], const boost::asio::ip::address& raw, int64_t slot) const {
  uint8_t msg[24];
  size_t n = 0;
  auto a = net::unmap(raw);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(msg, b.data(), 4);
    n = 4;
  } else {
    auto b = a.to_v6().to_bytes();
    std::memcpy(msg, b.data(), 16);
    n = 16;
  }
  for (int i = 0; i < 8; ++i) msg[n++] = static_cast<uint8_t>(static_cast<uint64_t>(slot) >> (8 * i));
  uint64_t v = siphash24(key, msg, n);
  // The BEP 15 protocol id is the only value a connect request may carry: never issue it.
  return v == udp::kProtocolId ? v + 1 : v;
}

uint64_t ConnectionIds::issue(const boost::asio::ip::address& client) const {
  return compute(key_, client, clock_.unix_seconds() / kSlotSeconds);
}

bool ConnectionIds::valid(uint64_t id, const boost::asio::ip::address& client) const {
  int64_t slot = clock_.unix_seconds() / kSlotSeconds;
  for (int64_t s : {slot, slot - 1}) {
    if (compute(key_, client, s) == id) return true;
    if (has_prev_ && compute(prev_key_, client, s) == id) return true;
  }
  return false;
}

}  // namespace otaswarm

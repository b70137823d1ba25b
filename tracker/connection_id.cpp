#include "tracker/connection_id.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "common/crypto.h"
#include "common/net.h"

namespace otaswarm {

namespace {

struct MacDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// One SipHash context per thread: EVP_MAC objects are not thread-safe, and fetching
// the algorithm per packet would dominate the cost.
EVP_MAC_CTX* thread_ctx() {
  thread_local std::unique_ptr<EVP_MAC_CTX, MacDeleter> ctx = [] {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
    if (!mac) throw std::runtime_error("OpenSSL has no SIPHASH");
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    return std::unique_ptr<EVP_MAC_CTX, MacDeleter>(c);
  }();
  return ctx.get();
}

void derive(const std::string& secret, uint8_t out[16]) {
  auto h = crypto::sha256("otaswarm-connection-id-v1\n" + secret);
  std::memcpy(out, h.data(), 16);
}

}  // namespace

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
  EVP_MAC_CTX* ctx = thread_ctx();
  size_t outsize = 8;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outsize), OSSL_PARAM_construct_end()};
  uint8_t out[8] = {};
  size_t outl = 0;
  if (EVP_MAC_init(ctx, key, 16, params) != 1 || EVP_MAC_update(ctx, msg, n) != 1 ||
      EVP_MAC_final(ctx, out, &outl, sizeof out) != 1)
    throw std::runtime_error("SipHash failed");
  uint64_t v = 0;
  std::memcpy(&v, out, 8);
  // The BEP 15 protocol id is the only value a connect request may carry: never issue it.
  return v == 0x41727101980ULL ? v + 1 : v;
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

#pragma once
// Stateless BEP 15 connection IDs: SipHash-2-4 (64-bit output) over (client IP, time slot)
// with a key every replica shares. A client's ID stays valid for the current and the
// previous slot, and IDs minted with the previous key are accepted during a key rotation.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>

#include "common/clock.h"

namespace otaswarm {

// SipHash-2-4 with 64-bit output, the value OpenSSL's SIPHASH with size 8 gives read as a
// little-endian integer; inline because OpenSSL's EVP_MAC parameter handling cost more than
// the hash per datagram.
uint64_t siphash24(const uint8_t key[16], const uint8_t* msg, size_t n);

class ConnectionIds {
 public:
  static constexpr int64_t kSlotSeconds = 120;  // BEP 15: IDs live at least 1 minute

  // Keys are arbitrary secrets; they are hashed down to SipHash's 16-byte key.
  ConnectionIds(const std::string& key, const std::string& previous_key, const Clock& clock);
  ~ConnectionIds();
  ConnectionIds(const ConnectionIds&) = delete;
  ConnectionIds& operator=(const ConnectionIds&) = delete;

  uint64_t issue(const boost::asio::ip::address& client) const;
  bool valid(uint64_t id, const boost::asio::ip::address& client) const;

 private:
  uint64_t compute(const uint8_t key[16], const boost::asio::ip::address& client, int64_t slot) const;
  uint8_t key_[16];
  uint8_t prev_key_[16];
  bool has_prev_ = false;
  const Clock& clock_;
};

}  // namespace otaswarm

#pragma once
// STUN wire codec (RFC 8489, RFC 5780 attributes, otaswarm rendezvous extensions): a Reader
// that rejects malformed input with a typed error and a Builder. No sockets here.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace otaswarm::stun {

inline constexpr uint32_t kMagicCookie = 0x2112A442;
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kTransactionIdSize = 12;
inline constexpr size_t kAttrHeaderSize = 4;
// Largest message the 16-bit length allows (4-aligned); RFC 5780 PADDING tests exceed the MTU on purpose.
inline constexpr size_t kMaxMessageSize = kHeaderSize + 0xFFFC;
inline constexpr size_t kMaxAttributes = 64;
inline constexpr size_t kMaxSoftwareLength = 763;  // RFC 8489 §14.14: < 128 characters, ≤ 763 bytes
inline constexpr size_t kMaxReasonLength = 763;
inline constexpr uint32_t kFingerprintXor = 0x5354554e;
inline constexpr size_t kMessageIntegritySize = 20;

using TransactionId = std::array<uint8_t, kTransactionIdSize>;

enum class Class : uint8_t { request = 0, indication = 1, success = 2, error = 3 };

namespace method {
inline constexpr uint16_t binding = 0x001;
// otaswarm rendezvous methods (docs/rendezvous-protocol.md).
inline constexpr uint16_t rdv_register = 0x0C0;
inline constexpr uint16_t rdv_connect = 0x0C1;
inline constexpr uint16_t rdv_punch = 0x0C2;  // indication pushed to both peers
// TURN (RFC 8656).
inline constexpr uint16_t allocate = 0x003;
inline constexpr uint16_t refresh = 0x004;
inline constexpr uint16_t send = 0x006;
inline constexpr uint16_t data = 0x007;
inline constexpr uint16_t create_permission = 0x008;
}  // namespace method

namespace attr {
inline constexpr uint16_t mapped_address = 0x0001;
inline constexpr uint16_t response_address = 0x0002;
inline constexpr uint16_t change_request = 0x0003;
inline constexpr uint16_t username = 0x0006;
inline constexpr uint16_t message_integrity = 0x0008;
inline constexpr uint16_t error_code = 0x0009;
inline constexpr uint16_t lifetime = 0x000D;            // TURN
inline constexpr uint16_t xor_peer_address = 0x0012;    // TURN
inline constexpr uint16_t data = 0x0013;                // TURN
inline constexpr uint16_t xor_relayed_address = 0x0016; // TURN
inline constexpr uint16_t requested_transport = 0x0019; // TURN
inline constexpr uint16_t unknown_attributes = 0x000A;
inline constexpr uint16_t realm = 0x0014;
inline constexpr uint16_t nonce = 0x0015;
inline constexpr uint16_t xor_mapped_address = 0x0020;
inline constexpr uint16_t priority = 0x0024;
inline constexpr uint16_t use_candidate = 0x0025;
inline constexpr uint16_t padding = 0x0026;
inline constexpr uint16_t response_port = 0x0027;
inline constexpr uint16_t software = 0x8022;
inline constexpr uint16_t alternate_server = 0x8023;
inline constexpr uint16_t fingerprint = 0x8028;
inline constexpr uint16_t ice_controlled = 0x8029;
inline constexpr uint16_t ice_controlling = 0x802A;
inline constexpr uint16_t response_origin = 0x802B;
inline constexpr uint16_t other_address = 0x802C;
// otaswarm rendezvous attributes (comprehension-required: a server that does not know them must refuse).
inline constexpr uint16_t rdv_token = 0x4F01;       // device token (UTF-8)
inline constexpr uint16_t rdv_info_hash = 0x4F02;   // 20-byte release info-hash
inline constexpr uint16_t rdv_peer_id = 0x4F03;     // device id of the peer (UTF-8)
inline constexpr uint16_t rdv_lan_address = 0x4F04; // XOR address format
inline constexpr uint16_t rdv_nat_class = 0x4F05;   // 4 bytes: mapping, filtering, public, 0
inline constexpr uint16_t rdv_peer_reflexive = 0x4F06;
inline constexpr uint16_t rdv_peer_lan = 0x4F07;
inline constexpr uint16_t rdv_start_time = 0x4F08;  // 8 bytes: unix milliseconds
inline constexpr uint16_t rdv_decision = 0x4F09;    // 4 bytes: nat::Decision, role, 0, 0
inline constexpr uint16_t rdv_lifetime = 0x4F0A;    // 4 bytes: seconds
inline constexpr uint16_t rdv_nat_ticket = 0x4F0B;  // signed NAT ticket (text)
inline constexpr uint16_t rdv_device_id = 0x4F0C;   // device id of the sender (UTF-8)
inline constexpr uint16_t rdv_start_delay = 0x4F0D; // 4 bytes: milliseconds from receipt to the start
inline constexpr uint16_t rdv_turn_username = 0x4F0E;
inline constexpr uint16_t rdv_turn_password = 0x4F0F;
inline constexpr uint16_t rdv_relayed_address = 0x4F10;  // XOR address of a TURN allocation
inline constexpr bool comprehension_required(uint16_t type) { return type < 0x8000; }
}  // namespace attr

// CHANGE-REQUEST flags (RFC 5780 §7.2).
inline constexpr uint32_t kChangeIp = 0x4;
inline constexpr uint32_t kChangePort = 0x2;

namespace error {
inline constexpr int try_alternate = 300;
inline constexpr int bad_request = 400;
inline constexpr int unauthorized = 401;
inline constexpr int forbidden = 403;
inline constexpr int unknown_attribute = 420;
inline constexpr int not_found = 404;     // otaswarm: the named peer is not registered
inline constexpr int rate_limited = 429;  // otaswarm: too many requests from this device
inline constexpr int stale_nonce = 438;   // RFC 8489: retry with the new NONCE
inline constexpr int quota_reached = 486; // RFC 8656 Allocation Quota Reached: relay budget spent
inline constexpr int server_error = 500;
}  // namespace error

uint16_t message_type(uint16_t method, Class cls);
uint16_t method_of(uint16_t type);
Class class_of(uint16_t type);

struct Attribute {
  uint16_t type = 0;
  std::string_view value;  // points into the parsed buffer
  size_t offset = 0;       // of the attribute header within the message
};

enum class ParseError {
  none,
  too_short,
  not_stun,          // first two bits not zero
  bad_magic,
  bad_length,        // header length not a multiple of 4 or not matching the datagram
  too_large,
  bad_attribute,     // attribute overruns the message
  too_many_attributes,
  bad_fingerprint,   // FINGERPRINT present but wrong, or not the last attribute
};
const char* to_string(ParseError e);

// A parsed message: views into the caller's buffer, which must outlive it.
struct Message {
  uint16_t type = 0;
  TransactionId transaction_id{};
  std::vector<Attribute> attributes;
  std::string_view raw;  // the whole message
  bool has_fingerprint = false;

  uint16_t method() const { return method_of(type); }
  Class cls() const { return class_of(type); }
  const Attribute* find(uint16_t type) const;
  // Comprehension-required attribute types not in `known` (for a 420 reply).
  std::vector<uint16_t> unknown_required(std::span<const uint16_t> known) const;
};

struct ParseResult {
  ParseError error = ParseError::none;
  Message message;
  bool ok() const { return error == ParseError::none; }
};

// Parses one complete message. A FINGERPRINT, if present, must be last and correct.
ParseResult parse(std::string_view data);

// For TCP framing: total size of the message starting at `data` once its header is in,
// or nullopt when the header is not STUN.
std::optional<size_t> framed_size(std::string_view header);

// Attribute value decoders (nullopt on malformed values).
std::optional<net::HostPort> decode_address(std::string_view value);
std::optional<net::HostPort> decode_xor_address(std::string_view value, const TransactionId& tid);
std::optional<uint32_t> decode_u32(std::string_view value);
std::optional<uint64_t> decode_u64(std::string_view value);
struct ErrorCode {
  int code = 0;
  std::string reason;
};
std::optional<ErrorCode> decode_error_code(std::string_view value);
std::vector<uint16_t> decode_unknown_attributes(std::string_view value);

// MESSAGE-INTEGRITY (short-term key) over the message up to the attribute at `mi`.
bool check_message_integrity(const Message& m, std::string_view key);

uint32_t crc32(std::string_view data);

class Builder {
 public:
  Builder(uint16_t method, Class cls, const TransactionId& tid);
  // Padding byte for attribute values whose length is not a multiple of 4 (RFC 5769 uses 0x20).
  Builder& padding_byte(uint8_t b) {
    pad_ = b;
    return *this;
  }
  Builder& add(uint16_t type, std::string_view value);
  Builder& add_u32(uint16_t type, uint32_t v);
  Builder& add_u64(uint16_t type, uint64_t v);
  Builder& add_address(uint16_t type, const net::Address& a, uint16_t port);
  Builder& add_xor_address(uint16_t type, const net::Address& a, uint16_t port);
  Builder& add_error(int code, std::string_view reason);
  Builder& add_unknown_attributes(std::span<const uint16_t> types);
  Builder& add_message_integrity(std::string_view key);
  Builder& add_fingerprint();
  size_t size() const { return buf_.size(); }
  // Final bytes; the builder can keep being used only to read size().
  const std::string& bytes() const { return buf_; }

 private:
  void set_length(size_t body_len);
  std::string buf_;
  TransactionId tid_;
  uint8_t pad_ = 0;
};

TransactionId random_transaction_id();

}  // namespace otaswarm::stun

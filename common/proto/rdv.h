#pragma once
// The otaswarm rendezvous methods (RDV-REGISTER, RDV-CONNECT, RDV-PUNCH;
// docs/rendezvous-protocol.md) on top of the STUN codec: builders and readers for both halves.
// The device (agent/rendezvous_client) builds requests and reads replies and indications;
// the rendezvous (rendezvous/stun_handler) builds its replies and indications here too, so
// both ends share one codec. No sockets.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/proto/nat.h"
#include "common/proto/stun.h"

namespace otaswarm::rdv {

inline constexpr size_t kInfoHashSize = 20;
inline constexpr size_t kNatClassSize = 4;
inline constexpr size_t kDecisionSize = 4;

// Per-recipient action carried in the RDV-DECISION attribute (second byte).
enum class Action : uint8_t { connect = 0, accept = 1, punch = 2, relay = 3 };
const char* to_string(Action a);

// RDV-NAT-CLASS value: mapping, filtering, public (0/1), 0. nullopt on any other value.
std::string nat_class_bytes(const nat::NatClass& c);
std::optional<nat::NatClass> parse_nat_class(std::string_view v);

struct RegisterRequest {
  std::string token;      // device token (RDV-TOKEN)
  std::string info_hash;  // 20 bytes
  std::optional<net::HostPort> lan;
  std::optional<nat::NatClass> nat_class;
};
std::string build_register(const RegisterRequest& r, const stun::TransactionId& tid);

struct ConnectRequest {
  std::string token;
  std::string info_hash;
  std::string peer_id;                      // the peer by device id, or
  std::optional<net::HostPort> peer_reflexive;  // by its reflexive endpoint (used when peer_id is empty)
  std::optional<net::HostPort> relayed;     // the requester's TURN allocation
};
std::string build_connect(const ConnectRequest& r, const stun::TransactionId& tid);

// RDV-REGISTER success.
struct Registered {
  net::HostPort reflexive;  // XOR-MAPPED-ADDRESS
  uint32_t lifetime_s = 0;
  std::string nat_ticket;   // empty when the rendezvous signs none
};
std::string build_registered(const stun::TransactionId& tid, const Registered& r);

// What the rendezvous tells one side about the other: the RDV-CONNECT success (to the
// requester, with XOR-MAPPED-ADDRESS) and the RDV-PUNCH indication (to the peer, with the
// release's info-hash) carry the same fields.
struct PeerInfo {
  std::optional<net::HostPort> mapped;  // connect success only: the requester as seen
  std::string device_id;                // the other side
  std::string info_hash;                // punch only
  nat::Decision decision = nat::Decision::direct;  // with the recipient as "a"
  Action action = Action::connect;                 // what the recipient does
  net::HostPort reflexive;
  std::optional<net::HostPort> lan;
  nat::NatClass nat_class;
  int64_t start_unix_ms = 0;
  uint32_t start_delay_ms = 0;
  std::string turn_username, turn_password;  // relay decisions (connect success)
  std::optional<net::HostPort> relayed;      // the requester's TURN allocation (punch)
};
// method is stun::method::rdv_connect (success) or rdv_punch (indication).
std::string build_peer_info(uint16_t method, const stun::TransactionId& tid, const PeerInfo& p);

enum class ReadError {
  none,
  malformed,      // not STUN, or a bad FINGERPRINT
  wrong_message,  // another method or class than expected
  missing_attribute,
  bad_attribute,
  error_response,  // the rendezvous refused: see the error code
};
const char* to_string(ReadError e);

template <class T>
struct Read {
  ReadError error = ReadError::none;
  T value{};
  stun::ErrorCode refusal;  // error_response only
  bool ok() const { return error == ReadError::none; }
};

// Replies to a request of transaction `tid`: another transaction id is wrong_message.
Read<Registered> read_registered(const stun::Message& m, const stun::TransactionId& tid);
Read<PeerInfo> read_connected(const stun::Message& m, const stun::TransactionId& tid);
Read<PeerInfo> read_punch(const stun::Message& m);

}  // namespace otaswarm::rdv

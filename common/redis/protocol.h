#pragma once
// Redis wire helpers without I/O: RESP command encoding, owned replies, Redis Cluster key
// slots (CRC16 with hash tags) and MOVED/ASK redirection parsing. Unit-tested in isolation.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace otaswarm::redis {

inline constexpr uint16_t kSlotCount = 16384;

// CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with.
uint16_t crc16(std::string_view data);
// The part of the key that is hashed: the first non-empty {tag}, else the whole key.
std::string_view hash_tag(std::string_view key);
uint16_t key_slot(std::string_view key);

// An owned copy of one RESP reply (hiredis frees its own objects right after parsing).
struct Reply {
  enum class Type : uint8_t { nil, string, status, error, integer, array };
  Type type = Type::nil;
  std::string str;  // string, status and error text
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
  // Integer replies, or strings holding a decimal integer (HGET of a counter); else `fallback`.
  int64_t as_int(int64_t fallback = 0) const;
};

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381". An empty host means "the node
// that answered" (Redis 7 cluster-preferred-endpoint-type unknown-endpoint).
struct Redirect {
  bool ask = false;
  uint16_t slot = 0;
  std::string host;
  uint16_t port = 0;
};
std::optional<Redirect> parse_redirect(std::string_view error);

// RESP array of bulk strings, binary-safe.
std::string encode_command(const std::vector<std::string>& args);
void append_command(std::string& out, const std::vector<std::string>& args);

struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string str() const;
};
// "host:port" or "[v6]:port"; nullopt on anything else.
std::optional<Endpoint> parse_endpoint(std::string_view text);

}  // namespace otaswarm::redis

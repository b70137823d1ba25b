#pragma once
// Thin wrappers over OpenSSL: hashes, HMACs, encodings, randomness.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace otaswarm::crypto {

using Sha1 = std::array<uint8_t, 20>;
using Sha256 = std::array<uint8_t, 32>;

using Md5 = std::array<uint8_t, 16>;
// Only for protocols that mandate it (the TURN long-term credential key, RFC 8489 §9.2.2).
Md5 md5(std::string_view data);
Sha1 sha1(std::string_view data);
Sha256 sha256(std::string_view data);
Sha1 hmac_sha1(std::string_view key, std::string_view data);
// Keys and cleanses an OpenSSL context per call: fine for rare use.
Sha256 hmac_sha256(std::string_view key, std::string_view data);
// Same result; keeps a keyed context per thread and key (a few keys are in use: token,
// ticket and icode keys with their rotation predecessors), so the hot path allocates nothing.
Sha256 hmac_sha256_cached(std::string_view key, std::string_view data);

// Incremental SHA-1 for hashing large files piece by piece.
class Sha1Stream {
 public:
  Sha1Stream();
  ~Sha1Stream();
  Sha1Stream(const Sha1Stream&) = delete;
  Sha1Stream& operator=(const Sha1Stream&) = delete;
  void update(const void* data, size_t len);
  Sha1 finish();  // resets for reuse

 private:
  void* ctx_;
};

// Constant-time comparison for MACs.
bool equal_ct(std::span<const uint8_t> a, std::span<const uint8_t> b);

std::string hex(std::span<const uint8_t> bytes);
std::string hex(std::string_view bytes);
std::optional<std::string> unhex(std::string_view hex);

std::string base64(std::string_view bytes);
std::string base64url(std::string_view bytes);  // RFC 4648 §5, no padding
std::optional<std::string> unbase64url(std::string_view text);
// Decodes into `out`; nullopt when malformed or longer than `out`, else the decoded length.
std::optional<size_t> unbase64url(std::string_view text, std::span<uint8_t> out);

void random_bytes(void* out, size_t len);
uint64_t random_u64();

template <size_t N>
std::string_view as_view(const std::array<uint8_t, N>& a) {
  return {reinterpret_cast<const char*>(a.data()), N};
}

}  // namespace otaswarm::crypto

#pragma once
// Device tokens: minted offline by the update backend, verified by the tracker and the
// rendezvous without any lookup. Format (docs/tokens.md):
//   v1.<base64url(device_id)>.<expiry unix seconds>.<base64url(HMAC-SHA256(key, msg)[0:16])>
//   msg = "otaswarm-device-token-v1\n" + device_id + "\n" + expiry
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace otaswarm::token {

inline constexpr size_t kMaxDeviceIdLength = 128;
inline constexpr size_t kMaxTokenLength = 256;

enum class Status { ok, malformed, bad_signature, expired, unsupported_version };
const char* to_string(Status s);

struct Verified {
  Status status = Status::malformed;
  std::string device_id;
  int64_t expiry = 0;
};

// Returns empty string when device_id is empty, too long or contains control characters.
std::string mint(std::string_view key, std::string_view device_id, int64_t expiry_unix);

// Holds the current key and, during a rotation window, the previous one.
class KeyRing {
 public:
  KeyRing() = default;
  explicit KeyRing(std::string current, std::string previous = {})
      : current_(std::move(current)), previous_(std::move(previous)) {}
  const std::string& current() const { return current_; }
  const std::string& previous() const { return previous_; }
  bool empty() const { return current_.empty(); }

 private:
  std::string current_, previous_;
};

Verified verify(const KeyRing& keys, std::string_view token, const Clock& clock);

bool valid_device_id(std::string_view id);

}  // namespace otaswarm::token

#pragma once
// TURN REST credentials for coturn's --use-auth-secret: coturn recomputes the password from
// the username, so nothing is stored; the device id in the username makes coturn's per-user
// quota a per-device quota.
#include <cstdint>
#include <string>
#include <string_view>

namespace otaswarm::rendezvous {

struct TurnCredentials {
  std::string username;  // "<expiry unix seconds>:<device id>"
  std::string password;  // base64(HMAC-SHA1(secret, username))
  int64_t ttl = 0;
  int64_t expiry = 0;
};

TurnCredentials make_turn_credentials(std::string_view secret, std::string_view device_id, int64_t now_unix,
                                      int64_t ttl_seconds);

}  // namespace otaswarm::rendezvous

#include "rendezvous/turn.h"

#include "common/crypto.h"

namespace otaswarm::rendezvous {

TurnCredentials make_turn_credentials(std::string_view secret, std::string_view device_id, int64_t now,
                                      int64_t ttl) {
  TurnCredentials c;
  c.ttl = ttl;
  c.expiry = now + ttl;
  c.username = std::to_string(c.expiry) + ":" + std::string(device_id);
  c.password = crypto::base64(crypto::as_view(crypto::hmac_sha1(secret, c.username)));
  return c;
}

}  // namespace otaswarm::rendezvous

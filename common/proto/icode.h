#pragma once
// iCode: an ISP token signed by the operator (not a free-form string a client could forge
// to attract traffic). Format (docs/locality.md):
//   i1.<base64url(isp)>.<base64url(region)>.<expiry>.<base64url(HMAC-SHA256(key, msg)[0:16])>
//   msg = "otaswarm-icode-v1\n" + isp + "\n" + region + "\n" + expiry
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/proto/token.h"

namespace otaswarm::icode {

struct Code {
  std::string isp;
  std::string region;  // may be empty
  int64_t expiry = 0;
};

std::string mint(std::string_view key, const Code& c);
// nullopt when malformed, forged or expired.
std::optional<Code> verify(const token::KeyRing& keys, std::string_view text, const Clock& clock);

}  // namespace otaswarm::icode

// Operator-supplied locality inputs: ALTO network maps (--locality-map) and signed icodes
// (announce parameter). Parsing never crashes; an accepted map answers lookups for any
// address; only icodes this key minted verify, and they re-mint identically.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tracker/alto.h"
#include "common/clock.h"
#include "common/proto/icode.h"
#include "common/net.h"

namespace {
const std::string kKey = "fuzz-icode-key-0123456789abcdef";
constexpr int64_t kNow = 1'700'000'000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm;
  static const ManualClock clock(kNow);
  static const token::KeyRing keys(kKey);
  std::string_view in(reinterpret_cast<const char*>(data), size);

  std::string error;
  auto map = alto::NetworkMap::parse(in, error);
  if (map) {
    for (const char* a : {"127.0.0.1", "10.1.2.3", "198.51.100.7", "::1", "2001:db8::1", "0.0.0.0"}) {
      const std::string* pid = map->lookup(*net::parse_address(a));
      if (pid && pid->empty()) std::abort();
    }
  } else if (error.empty()) {
    std::abort();  // a refused map always says why
  }

  if (auto c = icode::verify(keys, in, clock)) {
    if (icode::mint(kKey, *c) != in) std::abort();
  }
  return 0;
}

// Device tokens: verify never crashes and accepts nothing it did not mint; mint → verify
// round-trips for every device id mint accepts.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/proto/token.h"

namespace {
const std::string kKey = "fuzz-token-key-0123456789abcdef";
const std::string kPrevious = "fuzz-previous-key-0123456789abcd";
constexpr int64_t kNow = 1'700'000'000;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm;
  static const ManualClock clock(kNow);
  static const token::KeyRing keys(kKey, kPrevious);
  std::string_view in(reinterpret_cast<const char*>(data), size);

  auto v = token::verify(keys, in, clock);
  if (v.status == token::Status::ok || v.status == token::Status::expired) {
    // Only a token this key ring could have minted verifies, and it re-mints identically.
    std::string again = token::mint(kKey, v.device_id, v.expiry);
    std::string again_prev = token::mint(kPrevious, v.device_id, v.expiry);
    if (again != in && again_prev != in) std::abort();
  }

  // Treat the input as a device id: anything mint accepts must verify as that device.
  std::string t = token::mint(kKey, in, kNow + 60);
  if (!t.empty()) {
    auto r = token::verify(keys, t, clock);
    if (r.status != token::Status::ok || r.device_id != in) std::abort();
  } else if (token::valid_device_id(in)) {
    std::abort();
  }
  return 0;
}

// libFuzzer entry point for the device half of the rendezvous codec (common/proto/rdv): any
// bytes give a typed refusal or a reply/indication whose fields rebuild into a parsable message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/proto/rdv.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace otaswarm;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = stun::parse(in);
  if (!parsed.ok()) return 0;
  const auto& m = parsed.message;
  auto reg = rdv::read_registered(m, m.transaction_id);
  if (reg.ok() && !stun::parse(rdv::build_registered(m.transaction_id, reg.value)).ok()) std::abort();
  auto con = rdv::read_connected(m, m.transaction_id);
  if (con.ok() && !stun::parse(rdv::build_peer_info(stun::method::rdv_connect, m.transaction_id, con.value)).ok())
    std::abort();
  auto punch = rdv::read_punch(m);
  if (punch.ok()) {
    // The parsed message views its buffer: keep the rebuilt bytes alive while reading them.
    const std::string rebuilt = rdv::build_peer_info(stun::method::rdv_punch, m.transaction_id, punch.value);
    auto again = stun::parse(rebuilt);
    if (!again.ok() || !rdv::read_punch(again.message).ok()) std::abort();
  }
  return 0;
}

// libFuzzer entry point for the STUN codec: the reader must reject or accept any bytes without
// crashing, and whatever it accepts must decode and re-frame consistently.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proto/stun.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)otaswarm::stun::framed_size(in);
  auto r = otaswarm::stun::parse(in);
  if (!r.ok()) return 0;
  const auto& m = r.message;
  if (otaswarm::stun::framed_size(in) != size) std::abort();
  const uint16_t known[] = {otaswarm::stun::attr::change_request};
  (void)m.unknown_required(known);
  for (const auto& a : m.attributes) {
    (void)otaswarm::stun::decode_address(a.value);
    (void)otaswarm::stun::decode_xor_address(a.value, m.transaction_id);
    (void)otaswarm::stun::decode_u32(a.value);
    (void)otaswarm::stun::decode_u64(a.value);
    (void)otaswarm::stun::decode_error_code(a.value);
    (void)otaswarm::stun::decode_unknown_attributes(a.value);
  }
  (void)otaswarm::stun::check_message_integrity(m, "key");
  // Re-building the attributes gives a message the reader accepts again, unless the added
  // FINGERPRINT takes it past the reader's attribute limit (a full message plus one).
  otaswarm::stun::Builder b(m.method(), m.cls(), m.transaction_id);
  size_t count = 0;
  for (const auto& a : m.attributes)
    if (a.type != otaswarm::stun::attr::fingerprint && a.type != otaswarm::stun::attr::message_integrity) {
      b.add(a.type, a.value);
      ++count;
    }
  if (count + 1 > otaswarm::stun::kMaxAttributes) return 0;
  b.add_fingerprint();
  if (!otaswarm::stun::parse(b.bytes()).ok()) std::abort();
  return 0;
}

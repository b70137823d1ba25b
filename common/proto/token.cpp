#include "common/proto/token.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "common/crypto.h"

namespace otaswarm::token {

namespace {
constexpr std::string_view kDomain = "otaswarm-device-token-v1\n";
constexpr size_t kMacBytes = 16;

constexpr size_t kMaxExpiryDigits = 19;  // int64_t

// The MAC is the first kMacBytes of the returned HMAC. The message is built on the stack:
// this runs once per announce.
crypto::Sha256 mac(std::string_view key, std::string_view device_id, std::string_view expiry) {
  std::array<char, kDomain.size() + kMaxDeviceIdLength + 1 + kMaxExpiryDigits> buf;
  if (device_id.size() > kMaxDeviceIdLength || expiry.size() > kMaxExpiryDigits) return {};
  char* w = std::copy(kDomain.begin(), kDomain.end(), buf.data());
  w = std::copy(device_id.begin(), device_id.end(), w);
  *w++ = '\n';
  w = std::copy(expiry.begin(), expiry.end(), w);
  return crypto::hmac_sha256_cached(key, std::string_view(buf.data(), static_cast<size_t>(w - buf.data())));
}
}  // namespace

const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::malformed: return "malformed device token";
    case Status::bad_signature: return "device token signature invalid";
    case Status::expired: return "device token expired";
    case Status::unsupported_version: return "unsupported device token version";
  }
  return "invalid device token";
}

bool valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxDeviceIdLength) return false;
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

std::string mint(std::string_view key, std::string_view device_id, int64_t expiry) {
  if (!valid_device_id(device_id) || expiry <= 0 || key.empty()) return {};
  std::string exp = std::to_string(expiry);
  return "v1." + crypto::base64url(device_id) + "." + exp + "." +
         crypto::base64url(crypto::as_view(mac(key, device_id, exp)).substr(0, kMacBytes));
}

Verified verify(const KeyRing& keys, std::string_view tok, const Clock& clock) {
  Verified r;
  if (tok.empty() || tok.size() > kMaxTokenLength) return r;
  std::string_view parts[4];
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= tok.size(); ++i) {
    if (i == tok.size() || tok[i] == '.') {
      if (n == 4) return r;
      parts[n++] = tok.substr(start, i - start);
      start = i + 1;
    }
  }
  if (n != 4) return r;
  if (parts[0] != "v1") {
    r.status = parts[0].size() >= 2 && parts[0][0] == 'v' ? Status::unsupported_version : Status::malformed;
    return r;
  }
  auto device = crypto::unbase64url(parts[1]);
  if (!device || !valid_device_id(*device)) return r;
  int64_t expiry = 0;
  auto [p, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), expiry);
  if (parts[2].empty() || ec != std::errc() || p != parts[2].data() + parts[2].size() || expiry <= 0 ||
      parts[2][0] == '0')
    return r;
  std::array<uint8_t, kMacBytes> given;
  auto given_len = crypto::unbase64url(parts[3], given);
  if (!given_len || *given_len != kMacBytes) return r;
  bool ok = false;
  for (const std::string* k : {&keys.current(), &keys.previous()}) {
    if (k->empty()) continue;
    auto h = mac(*k, *device, parts[2]);
    if (crypto::equal_ct(std::span<const uint8_t>(h.data(), kMacBytes), given)) ok = true;
  }
  if (!ok) {
    r.status = Status::bad_signature;
    return r;
  }
  r.device_id = std::move(*device);
  r.expiry = expiry;
  r.status = expiry < clock.unix_seconds() ? Status::expired : Status::ok;
  return r;
}

}  // namespace otaswarm::token

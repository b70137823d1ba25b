#include "common/token.h"

#include <charconv>

#include "common/crypto.h"

namespace otaswarm::token {

namespace {
constexpr std::string_view kDomain = "otaswarm-device-token-v1\n";
constexpr size_t kMacBytes = 16;

std::string mac(std::string_view key, std::string_view device_id, std::string_view expiry) {
  std::string msg;
  msg.reserve(kDomain.size() + device_id.size() + expiry.size() + 1);
  msg.append(kDomain).append(device_id).append("\n").append(expiry);
  auto h = crypto::hmac_sha256_cached(key, msg);
  return std::string(reinterpret_cast<const char*>(h.data()), kMacBytes);
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
  return "v1." + crypto::base64url(device_id) + "." + exp + "." + crypto::base64url(mac(key, device_id, exp));
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
  auto given = crypto::unbase64url(parts[3]);
  if (!given || given->size() != kMacBytes) return r;
  auto span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  bool ok = false;
  for (const std::string* k : {&keys.current(), &keys.previous()}) {
    if (k->empty()) continue;
    if (crypto::equal_ct(span(mac(*k, *device, parts[2])), span(*given))) ok = true;
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

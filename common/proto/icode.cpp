#include "common/proto/icode.h"

#include <charconv>
#include <span>
#include <vector>

#include "common/crypto.h"

namespace otaswarm::icode {

namespace {
constexpr std::string_view kDomain = "otaswarm-icode-v1\n";
constexpr size_t kMacBytes = 16;
constexpr size_t kMaxLength = 256;
constexpr size_t kMaxField = 64;

std::string mac(std::string_view key, const Code& c) {
  std::string msg(kDomain);
  msg.append(c.isp).append("\n").append(c.region).append("\n").append(std::to_string(c.expiry));
  auto h = crypto::hmac_sha256_cached(key, msg);
  return std::string(reinterpret_cast<const char*>(h.data()), kMacBytes);
}

bool printable(std::string_view s) {
  for (unsigned char ch : s)
    if (ch < 0x21 || ch == 0x7f) return false;
  return true;
}
}  // namespace

std::string mint(std::string_view key, const Code& c) {
  if (key.empty() || c.isp.empty() || c.isp.size() > kMaxField || c.region.size() > kMaxField || c.expiry <= 0 ||
      !printable(c.isp) || !printable(c.region))
    return {};
  return "i1." + crypto::base64url(c.isp) + "." + crypto::base64url(c.region) + "." + std::to_string(c.expiry) + "." +
         crypto::base64url(mac(key, c));
}

std::optional<Code> verify(const token::KeyRing& keys, std::string_view text, const Clock& clock) {
  if (text.size() > kMaxLength) return std::nullopt;
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '.') {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() != 5 || parts[0] != "i1") return std::nullopt;
  auto isp = crypto::unbase64url(parts[1]);
  auto region = crypto::unbase64url(parts[2]);
  if (!isp || isp->empty() || isp->size() > kMaxField || !region || region->size() > kMaxField) return std::nullopt;
  Code c{*isp, *region, 0};
  auto [p, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), c.expiry);
  if (ec != std::errc() || p != parts[3].data() + parts[3].size() || c.expiry <= 0) return std::nullopt;
  if (std::to_string(c.expiry) != parts[3]) return std::nullopt;
  auto given = crypto::unbase64url(parts[4]);
  if (!given || given->size() != kMacBytes) return std::nullopt;
  auto span = [](const std::string& s) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  bool ok = false;
  for (const std::string* k : {&keys.current(), &keys.previous()})
    if (!k->empty() && crypto::equal_ct(span(mac(*k, c)), span(*given))) ok = true;
  if (!ok || c.expiry < clock.unix_seconds()) return std::nullopt;
  return c;
}

}  // namespace otaswarm::icode

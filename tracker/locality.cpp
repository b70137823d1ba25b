#include "tracker/locality.h"

#include <cstring>

#include "common/crypto.h"

namespace otaswarm {

uint64_t BasicLocality::lan_key(const net::Address& raw, std::string_view hint) const {
  if (hint.empty() && require_hint_) return 0;
  auto a = net::unmap(raw);
  std::string msg = a.to_string();
  msg.push_back('\n');
  msg.append(hint);
  auto h = crypto::sha256(msg);
  uint64_t v;
  std::memcpy(&v, h.data(), sizeof v);
  return v ? v : 1;
}

store::Locality BasicLocality::resolve(const net::Address& public_ip, std::string_view lan_hint,
                                       std::string_view) const {
  store::Locality l;
  l.lan = lan_key(public_ip, lan_hint);
  return l;
}

}  // namespace otaswarm

#include "agent/byte_accounting.h"

namespace otaswarm::agent {

const char* path_name(Path p) {
  switch (p) {
    case Path::webseed: return "webseed";
    case Path::lan: return "lan";
    case Path::direct: return "direct";
    case Path::punched: return "punched";
    case Path::relayed: return "relayed";
  }
  return "?";
}

Path classify(ConnectionKind kind, const net::Address& remote, std::span<const net::Cidr> local_networks) {
  if (kind == ConnectionKind::web_seed) return Path::webseed;
  net::Address a = net::unmap(remote);
  if (net::is_private(a)) return Path::lan;
  for (const auto& c : local_networks)
    if (c.contains(a)) return Path::lan;
  return Path::direct;
}

uint64_t ByteTotals::received_total() const {
  uint64_t s = 0;
  for (auto v : received) s += v;
  return s;
}

Json bytes_json(const ByteTotals& t) {
  Json j = Json::object();
  for (size_t i = 0; i < kPathCount; ++i) j[path_name(static_cast<Path>(i))] = t.received[i];
  return j;
}

ByteTotals ByteCounters::snapshot() const {
  ByteTotals t;
  for (size_t i = 0; i < kPathCount; ++i) t.received[i] = received_[i].load(std::memory_order_relaxed);
  t.uploaded = uploaded_.load(std::memory_order_relaxed);
  return t;
}

}  // namespace otaswarm::agent
